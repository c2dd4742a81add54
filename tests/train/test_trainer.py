"""`cnnc train` and `cnnc infer` as users run them: outputs, resume, and every kind of bad input."""
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cnnc.cli import cli
from cnnc.train import checkpoint

ROOT = Path(__file__).resolve().parents[2]
LENET = str(ROOT / "specs" / "lenet5.yaml")


def cnnc(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def train(tmp, *extra, epochs=2, spec=LENET):
    return cnnc("train", spec, "--data", "digits", "--epochs", epochs, "--checkpoint", tmp,
                "--backend", "reference", *extra)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("lenet")
    result = train(out)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_training_writes_checkpoints_history_and_a_curve(trained):
    out, log = trained
    assert {"best.npz", "last.npz", "history.json", "curve.png"} <= {p.name for p in out.iterdir()}
    history = json.loads((out / "history.json").read_text())
    assert [e["epoch"] for e in history["epochs"]] == [1, 2]
    assert set(history["epochs"][0]) == {"epoch", "loss", "acc", "val_loss", "val_acc", "seconds"}
    assert set(history["test"]) == {"loss", "acc"} and history["test"]["acc"] > 0.8
    assert "epoch 2/2" in log and "test: loss" in log


def test_checkpoints_hold_pytorch_names_and_layouts_without_pickle(trained):
    out, _ = trained
    with np.load(out / "best.npz", allow_pickle=False) as f:
        assert f["c1s2.conv.weight"].shape == (6, 1, 5, 5)          # OIHW
        assert f["output.weight"].shape == (10, 84)                 # (out, in)


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, monkeypatch):
    from cnnc.train.trainer import Trainer
    assert train(tmp_path / "straight", epochs=3).exit_code == 0
    original = Trainer.run_epoch

    def killed_in_epoch_3(self, executor, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return original(self, executor, epoch)

    monkeypatch.setattr(Trainer, "run_epoch", killed_in_epoch_3)
    assert train(tmp_path / "resumed", epochs=3).exit_code == 130
    monkeypatch.setattr(Trainer, "run_epoch", original)
    assert train(tmp_path / "resumed", "--resume", epochs=3).exit_code == 0
    a = checkpoint.load(str(tmp_path / "straight" / "last.npz"))
    b = checkpoint.load(str(tmp_path / "resumed" / "last.npz"))
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    assert a.meta["history"][-1]["val_acc"] == b.meta["history"][-1]["val_acc"]


def test_infer_reports_accuracy_and_runs_raw_arrays(trained, tmp_path):
    out, _ = trained
    result = cnnc("infer", LENET, "--weights", out / "best.npz", "--data", "digits", "--split", "test")
    assert result.exit_code == 0 and "acc" in result.output
    x = np.random.default_rng(0).random((5, 1, 32, 32), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    result = cnnc("infer", LENET, "--weights", out / "best.npz", "--input", tmp_path / "x.npy",
                  "--output", tmp_path / "y.npy")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "y.npy").shape == (5, 10)


# ------------------------------------------------------------------ bad input: exit 1, a clear message
def error_of(result):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.output


def test_weights_missing_a_tensor(trained, tmp_path):
    out, _ = trained
    with np.load(out / "best.npz") as f:
        arrays = {k: f[k] for k in f.files if k != "f6.bias"}
    np.savez(tmp_path / "w.npz", **arrays)
    assert "missing f6.bias" in error_of(cnnc("infer", LENET, "--weights", tmp_path / "w.npz", "--data", "digits"))


def test_weights_of_the_wrong_shape(trained, tmp_path):
    out, _ = trained
    with np.load(out / "best.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays["f6.weight"] = np.zeros((84, 121), np.float32)
    np.savez(tmp_path / "w.npz", **arrays)
    message = error_of(cnnc("infer", LENET, "--weights", tmp_path / "w.npz", "--data", "digits"))
    assert "'f6.weight' has shape (84, 121), expected (84, 120)" in message


def test_input_array_of_the_wrong_shape_or_dtype(trained, tmp_path):
    out, _ = trained
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 28, 28), np.float32))
    assert "expected (N, 1, 32, 32)" in error_of(cnnc("infer", LENET, "--weights", out / "best.npz",
                                                       "--input", tmp_path / "x.npy"))
    np.save(tmp_path / "s.npy", np.array([["a"] * 4] * 2).reshape(2, 1, 2, 2))
    assert "expected" in error_of(cnnc("infer", LENET, "--weights", out / "best.npz", "--input", tmp_path / "s.npy"))


def test_unknown_dataset(tmp_path):
    message = error_of(train(tmp_path, "--data", "digitz"))
    assert "no dataset of that name" in message and "did you mean 'digits'?" in message


def test_a_shape_the_data_cannot_take(tmp_path):
    message = error_of(cnnc("train", ROOT / "specs" / "lstm.yaml", "--data", "digits", "--epochs", 1,
                            "--checkpoint", tmp_path, "--backend", "reference"))
    assert "digits" in message and "8, 8" in message


def test_a_checkpoint_of_another_network(trained, tmp_path):
    out, _ = trained
    other = tmp_path / "other.yaml"
    other.write_text((ROOT / "specs" / "lenet5.yaml").read_text().replace("units: 84", "units: 80"))
    message = error_of(cnnc("train", other, "--data", "digits", "--epochs", 3, "--checkpoint", out,
                            "--resume", "--backend", "reference"))
    assert "another network" in message


def test_a_diverging_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    mlp = ROOT / "tests" / "specs" / "tiny" / "mlp.yaml"
    assert train(tmp_path, spec=mlp, epochs=1).exit_code == 0
    message = error_of(train(tmp_path, "--resume", "--lr", "1e30", "--optimizer", "sgd", spec=mlp, epochs=3))
    assert "the loss became nan at epoch 2, step" in message and "(epoch 1)" in message
    assert checkpoint.load(str(tmp_path / "last.npz")).meta["epoch"] == 0     # still the good one


def test_ctrl_c_leaves_a_loadable_checkpoint(tmp_path, monkeypatch):
    from cnnc.train.trainer import Trainer
    calls = {"n": 0}
    original = Trainer.run_epoch

    def interrupted(self, executor, epoch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, executor, epoch)

    monkeypatch.setattr(Trainer, "run_epoch", interrupted)
    result = train(tmp_path, epochs=3)
    assert result.exit_code == 130 and "--resume" in result.output
    assert checkpoint.load(str(tmp_path / "last.npz")).meta["epoch"] == 0


def test_spec_train_section_and_flags(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text((ROOT / "tests" / "specs" / "tiny" / "mlp.yaml").read_text()
                    + "train: {epochs: 1, optimizer: sgd, lr: 0.05}\n")
    result = cnnc("train", spec, "--checkpoint", tmp_path / "run", "--backend", "reference", "--lr", "0.02")
    assert result.exit_code == 0, result.output
    assert "for 1 epochs, sgd lr 0.02" in result.output
