"""`cnnc bench`: it measures what it prints."""
import json

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
