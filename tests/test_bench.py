"""`cnnc bench`: it measures what it prints."""
import json
import re
import sys

import pytest
from click.testing import CliRunner

from cnnc.cli import cli
from conftest import ROOT


def bench(*args):
    result = CliRunner().invoke(cli, ["bench", str(ROOT / "specs" / "lenet5.yaml"), "--batch", "4",
                                      "--repeat", "2", "--format", "json", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_training_bench_times_every_layer_both_ways():
    data = bench("--train")
    assert data["train"] and data["peak_gflops"] > 0 and data["step_ms"] > 0
    assert data["throughput"] > 0
    convs = [l for l in data["layers"] if l["kind"] == "conv2d"]
    assert all(l["forward_ms"] > 0 and l["backward_ms"] > 0 and l["gflops"] > 0 for l in convs)
    assert all(0 < l["peak_share"] for l in convs)


def test_inference_bench_has_no_backward():
    data = bench("--backend", "reference")
    assert not data["train"] and all(l["backward_ms"] == 0 for l in data["layers"])


def test_compare_torch_prints_pytorch_beside_cnnc():
    pytest.importorskip("torch")
    data = bench("--train", "--compare", "torch", "--threads", "1")
    torch = data["torch"]
    assert torch["version"].count(".") == 1 and torch["threads"] == 1 and torch["throughput"] > 0
    assert torch["ratio"] == pytest.approx(torch["step_ms"] / data["step_ms"], rel=1e-2)
    convs = [l for l in data["layers"] if l["kind"] == "conv2d"]
    assert all(l["torch_forward_ms"] > 0 and l["torch_backward_ms"] > 0 and l["ratio"] > 0 for l in convs)
    table = CliRunner().invoke(cli, ["bench", str(ROOT / "specs" / "lenet5.yaml"), "--batch", "4", "--repeat", "2",
                                     "--compare", "torch", "--threads", "1"], catch_exceptions=False)
    assert table.exit_code == 0, table.output
    assert "torch fwd/bwd ms" in table.output.splitlines()[0]
    assert re.search(r"^lenet5 inference: [\d,]+ img/s   torch \d+\.\d+: [\d,]+ img/s   \d+\.\d\dx$",
                     table.output, re.MULTILINE), table.output


def test_compare_torch_without_pytorch_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)          # `import torch` now raises ImportError
    result = CliRunner().invoke(cli, ["bench", str(ROOT / "specs" / "lenet5.yaml"), "--compare", "torch"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "pip install 'cnnc[bench]'" in result.output and "Traceback" not in result.output


def test_vs_torch_covers_every_target(monkeypatch):
    """benchmarks/vs_torch.py's rows: every resnet20 convolution (layers alike measured once),
    both directions, the depthwise sizes, the whole-step and memory targets."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    vs_torch = pytest.importorskip("vs_torch")
    names = [t.name for t in vs_torch.targets()]
    resnet = vs_torch.conv_cases(vs_torch.RESNET20, 64, lambda c: True, "resnet20")
    assert sum(c.layers for c in resnet) == 21                      # 19 3×3, 2 1×1 projections
    assert all(f"{c.label} {d}" in names for c in resnet for d in ("fwd", "bwd"))
    assert {size for name in names if "depthwise" in name for size in (56, 28, 14) if f"→{size}×{size}" in name} \
        == {56, 28, 14}
    for wanted in ["conv64 (64→64 3×3 s1 56×56→56×56 b8) bwd", "3×3 conv fwd, share of FP32 peak",
                   "lenet5 train b64", "keras_mnist train b64", "resnet20 train b64", "lenet5 inference b64",
                   "resnet20 inference b64", "lstm_t50 train b32", "gru_t50 train b32",
                   "resnet20 train b64 peak RSS", "resnet20 train b64 activation bytes == compile --plan"]:
        assert wanted in names
