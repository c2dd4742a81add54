"""It learns: the accuracy runs of the runtime issue, on held-out test data (slow: run in CI,
skip locally with `-m "not slow"`). Each uses the spec's own `train:` settings."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnnc.cli import cli

ROOT = Path(__file__).resolve().parent.parent
BACKEND = "cpu"

RUNS = [  # spec, minimum test accuracy
    ("specs/lenet5.yaml", 0.97),
    ("specs/keras_mnist.yaml", 0.97),
    ("specs/resnet20.yaml", 0.97),
    ("specs/highway.yaml", 0.95),
    ("specs/lstm.yaml", 0.95),
    ("specs/gru.yaml", 0.95),
    ("examples/train/karate_gcn.yaml", 0.90),
]


def train(spec: str, out: Path) -> float:
    result = CliRunner().invoke(cli, ["train", str(ROOT / spec), "--checkpoint", str(out), "--backend", BACKEND],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads((out / "history.json").read_text())["test"]["acc"]


@pytest.mark.slow
@pytest.mark.parametrize("spec,minimum", RUNS, ids=[Path(s).stem for s, _ in RUNS])
def test_reaches_its_accuracy(spec, minimum, tmp_path):
    assert train(spec, tmp_path) >= minimum


@pytest.mark.slow
def test_spatial_transformer_beats_the_same_classifier_without_it(tmp_path):
    with_stn = train("specs/stn.yaml", tmp_path / "stn")
    without = train("examples/train/stn_baseline.yaml", tmp_path / "plain")
    assert with_stn > without
