"""The training loop: minibatches, validation, checkpoints, early stopping, history."""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from cnnc.runtime.executor import Executor
from cnnc.runtime.ops import RunContext

from ..compiler import Analysis
from ..passes import lower
from . import checkpoint
from .config import TrainConfig
from .feeds import Feeds, Tally, score
from .init import initial_params
from .losses import LOSSES
from .optimizers import OPTIMIZERS
from .schedules import SCHEDULES


class TrainingError(Exception):
    """Training cannot go on (a diverged loss, a checkpoint of another network); says why."""


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    acc: float
    val_loss: float
    val_acc: float
    seconds: float


@dataclass
class History:
    epochs: list[EpochRecord] = field(default_factory=list)
    test: dict | None = None

    def to_json(self) -> dict:
        return {"epochs": [vars(e) for e in self.epochs], "test": self.test}


class Trainer:
    def __init__(self, a: Analysis, feeds: Feeds, config: TrainConfig, out_dir: str, backend,
                 report=print, progress=None) -> None:
        """`report(line)` prints a line; `progress(steps, label)` gives a context manager with
        `update(text)` per step (a progress bar), or None for no bar."""
        self.a, self.feeds, self.config, self.out_dir, self.report = a, feeds, config, out_dir, report
        self.progress = progress
        self.train_program = lower(a, training=True)
        self.eval_program = lower(a, training=False)
        self.shapes = {n: p.shape for n, p in self.train_program.params.items()}
        self.backend = backend
        self.params = backend.bind_params(initial_params(a, config.seed), self.train_program)
        self.optimizer = _optimizer(config)
        self.rng = np.random.default_rng(config.seed)
        self.history = History()
        self.start_epoch, self.best = 0, -math.inf
        self.loss_fn = LOSSES[config.loss]
        # A network ending in softmax trains on its logits: a stable log-softmax cross-entropy.
        self.logits_from = "softmax" if config.loss == "cross_entropy" else None

    # ------------------------------------------------------------ checkpoints
    def path(self, name: str) -> str:
        return os.path.join(self.out_dir, name)

    def resume(self) -> None:
        ckpt = checkpoint.load(self.path("last.npz"))
        if ckpt.meta.get("spec_hash") != checkpoint.spec_hash(self.shapes):
            raise TrainingError(f"{self.path('last.npz')} was written for another network "
                                f"(its parameters differ from this spec's); train afresh or pick its spec")
        weights = checkpoint.check_weights(ckpt.params, self.shapes, self.path("last.npz"))
        self.params = self.backend.bind_params(weights, self.train_program)
        self.optimizer.state = self.state_layout(ckpt.optimizer, self.backend.bind_params)
        self.optimizer.steps = ckpt.meta["optimizer_steps"]
        self.rng.bit_generator.state = ckpt.meta["rng"]
        self.start_epoch, self.best = ckpt.meta["epoch"] + 1, ckpt.meta["best"]
        self.history = History([EpochRecord(**e) for e in ckpt.meta["history"]])

    def state_layout(self, state: dict, convert) -> dict:
        """Optimizer slots (`<param>/exp_avg` …) share their parameter's layout: convert alike."""
        return {key: convert({key.split("/")[0]: value}, self.train_program)[key.split("/")[0]]
                for key, value in state.items()}

    def save(self, name: str, epoch: int) -> None:
        meta = {"spec_hash": checkpoint.spec_hash(self.shapes), "epoch": epoch, "best": self.best,
                "optimizer_steps": self.optimizer.steps, "rng": self.rng.bit_generator.state,
                "history": [vars(e) for e in self.history.epochs], "spec": self.a.name}
        weights = self.backend.unbind_params(self.params, self.train_program)
        state = self.state_layout(self.optimizer.state, self.backend.unbind_params)
        checkpoint.save(self.path(name), checkpoint.Checkpoint(weights, state, meta))

    # ------------------------------------------------------------ the loop
    def fit(self) -> History:
        with np.errstate(over="ignore", invalid="ignore"):    # a diverging loss is reported, not warned
            return self._fit()

    def _fit(self) -> History:
        train = Executor(self.train_program, self.backend, self.params)
        for epoch in range(self.start_epoch, self.config.epochs):
            started = time.perf_counter()
            self.optimizer.lr = SCHEDULES[self.config.schedule](
                self.config.lr, epoch, self.config.epochs, step_size=self.config.step_size, gamma=self.config.gamma)
            loss, acc = self.run_epoch(train, epoch)
            val_loss, val_acc = self.evaluate("val")
            record = EpochRecord(epoch + 1, loss, acc, val_loss, val_acc, round(time.perf_counter() - started, 3))
            self.history.epochs.append(record)
            improved = val_acc > self.best
            self.best = max(self.best, val_acc)
            self.save("last.npz", epoch)
            if improved:
                self.save("best.npz", epoch)
            self.write_history()
            self.report(f"epoch {epoch + 1}/{self.config.epochs}  loss {loss:.4f}  acc {acc:.2%}  "
                        f"val_loss {val_loss:.4f}  val_acc {val_acc:.2%}  {record.seconds:.1f} s"
                        + ("  (best)" if improved else ""))
            if self.config.patience and self.epochs_without_gain() >= self.config.patience:
                self.report(f"early stop: no better validation accuracy for {self.config.patience} epochs")
                break
        return self.history

    def epochs_without_gain(self) -> int:
        accs = [e.val_acc for e in self.history.epochs]
        return len(accs) - 1 - int(np.argmax(accs))

    def run_epoch(self, executor: Executor, epoch: int) -> tuple[float, float]:
        if self.progress is None:
            return self._run_epoch(executor, epoch, lambda text: None)
        label = f"epoch {epoch + 1}/{self.config.epochs}"
        with self.progress(self.feeds.steps("train", self.config.batch), label) as bar:
            return self._run_epoch(executor, epoch, bar.update)

    def _run_epoch(self, executor: Executor, epoch: int, tick) -> tuple[float, float]:
        tally = Tally()
        for step, batch in enumerate(self.feeds.batches("train", self.config.batch, self.rng)):
            ctx = RunContext(train=True, rng=self.rng)
            out = executor.forward(batch.inputs, ctx, stop_before=self.logits_from)
            name = self.eval_program.outputs[-1]
            loss, grad, probs = self.loss_fn(out[name], batch.labels, batch.mask)
            if not math.isfinite(loss):
                kept = (f"the last good checkpoint is {self.path('last.npz')} (epoch {epoch})" if epoch
                        else "no checkpoint was written yet")
                raise TrainingError(f"the loss became {loss} at epoch {epoch + 1}, step {step + 1}; {kept}; "
                                    "lower the learning rate, or set `clip:`")
            grads = executor.backward({name: grad})
            self.optimizer.step(self.params, grads)
            tally.add(batch, loss, probs)
            mean_loss, accuracy = tally.means()
            tick(f"loss {mean_loss:.4f}  acc {accuracy:.2%}")
        return tally.means()

    def evaluate(self, split: str, params: dict | None = None) -> tuple[float, float]:
        executor = Executor(self.eval_program, self.backend, params or self.params)

        def forward(inputs):
            return executor.forward(inputs, RunContext(train=False), stop_before=self.logits_from)
        return score(forward, self.feeds, split, 256, self.loss_fn, self.eval_program.outputs[-1])

    def test(self) -> dict:
        """Test-set loss and accuracy with the best checkpoint's weights."""
        best = None
        if os.path.exists(self.path("best.npz")):
            best = self.backend.bind_params(checkpoint.load(self.path("best.npz")).params, self.train_program)
        loss, acc = self.evaluate("test", best)
        self.history.test = {"loss": loss, "acc": acc}
        self.write_history()
        return self.history.test

    def write_history(self) -> None:
        tmp = self.path(".history.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.history.to_json(), f, indent=2)
        os.replace(tmp, self.path("history.json"))


def _optimizer(config: TrainConfig):
    rest = {"l1": config.l1, "l2": config.l2, "clip": config.clip or None}
    if config.optimizer == "sgd":
        return OPTIMIZERS["sgd"](config.lr, momentum=config.momentum, nesterov=config.nesterov, **rest)
    return OPTIMIZERS[config.optimizer](config.lr, **rest)
