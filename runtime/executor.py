"""Runs a Program on a backend: forward, backward (reverse-mode over the recorded ops).

The executor knows nothing about layers or layouts. A backend supplies
- `kernels()`: {op name: (forward, backward)} with the contract of runtime/ops.py, and
- `to_internal(name, array)` / `from_internal(name, array)`: layout conversion of the
  network's inputs, outputs and gradients at the boundary (the reference: identity),
- optionally `fuse(step)`: a runner for a whole fused step at inference, or None;
- optionally `fuse_training(step)`: a (forward, backward) pair for a step that trains as one
  op (Step.trains_as_one, runtime/ops.py `trained_as_one` has the contract), or None: the
  executor then composes one from the backend's primitive kernels;
- `compute_scope(threads)`: a context manager the callers run steps in (thread pools);
- optionally `prepare(program)`: compile what the program needs before its first step;
- `bind_params(params, program)` / `unbind_params(params, program)`: parameters into and
  out of the backend's layout. Callers bind once (an optimizer then updates the bound arrays,
  whose gradients come back in the same layout) and unbind for checkpoints.
"""
from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .ops import RunContext, trained_as_one


class MissingKernel(Exception):
    pass


@dataclass
class Record:
    """One op run in training: the tensors it read and made, its parameters, and its backward
    `backward(saved, dy, attrs) -> (dxs, dps)` with what it saved."""
    inputs: list[str]
    output: str
    params: list[str | None]
    layer: str
    attrs: dict
    backward: object
    saved: object


@dataclass
class Tape:
    """What backward needs: each op run in training, in order."""
    records: list[Record] = field(default_factory=list)


class Executor:
    def __init__(self, program, backend, params: dict[str, np.ndarray]) -> None:
        """`params` are in the backend's layout (see `bind_params`)."""
        self.program, self.backend = program, backend
        self.kernels = backend.kernels()
        missing = sorted({s.op for s in program.primitive_steps()} - set(self.kernels))
        if missing:
            raise MissingKernel(f"backend {backend.NAME} has no kernel for {', '.join(missing)}")
        self.params = params
        if hasattr(backend, "prepare"):
            backend.prepare(program)
        self.sum = getattr(backend, "sum_gradients", np.add)       # a backend may sum on every core
        fuse = getattr(backend, "fuse", None)
        self.fused = {i: fuse(step) for i, step in enumerate(program.steps)} if fuse else {}
        self.trained = {i: self._trained_as_one(step) for i, step in enumerate(program.steps) if step.trains_as_one}
        self.tape = Tape()
        self.profile: dict[str, dict[str, float]] | None = None   # set to {} to time each layer

    def forward(self, inputs: dict[str, np.ndarray], ctx: RunContext, *, stop_before: str | None = None
                ) -> dict[str, np.ndarray]:
        """The network's outputs. With `stop_before=op`, a final op of that kind on an output is
        skipped (the trainer takes logits before a softmax, for a stable cross-entropy)."""
        env = {name: self.backend.to_internal(name, x) for name, x in inputs.items()}
        self.tape = Tape()
        self.skipped: dict[str, str] = {}
        plan = self.program.plan
        for index, step in enumerate(self.program.steps):
            runner = None if ctx.train or stop_before else self.fused.get(index)
            if runner is not None:
                started = time.perf_counter()
                env[step.result] = runner(env, self.params, ctx)
                self._timed("forward", step.layer, started)
            elif ctx.train and index in self.trained and not (stop_before and step.fused[0].op == stop_before):
                self._train_as_one(index, step, env, ctx)
                continue
            for prim in ([] if runner is not None else step.chain()):
                if stop_before and prim.op == stop_before and prim.output in self.program.outputs:
                    env[prim.output] = env[prim.inputs[0]]
                    self.skipped[prim.output] = prim.inputs[0]
                    continue
                fwd, _ = self.kernels[prim.op]
                xs = [env[t] for t in prim.inputs]
                ps = [None if p is None else self.params[p] for p in prim.params]
                started = time.perf_counter()
                env[prim.output], saved = fwd(xs, ps, prim.attrs, ctx)
                self._timed("forward", prim.layer, started)
                if ctx.train:
                    self.tape.records.append(Record(prim.inputs, prim.output, prim.params, prim.layer, prim.attrs,
                                                    self.kernels[prim.op][1], saved))
            if not ctx.train and plan is not None:       # free what no later step reads
                for t in [t for t in step.reads() if plan.last_use.get(t) == index and t not in inputs]:
                    env.pop(t, None)
        return {o: self.backend.from_internal(o, env[o]) for o in self.program.outputs}

    def backward(self, grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Parameter gradients, given the gradients of the outputs (of the last forward)."""
        denv = {self.skipped.get(name, name): self.backend.to_internal(name, g) for name, g in grads.items()}
        dparams: dict[str, np.ndarray] = {}
        for record in reversed(self.tape.records):
            dy = denv.pop(record.output, None)
            if dy is None:
                continue
            started = time.perf_counter()
            dxs, dps = record.backward(record.saved, dy, record.attrs)
            self._timed("backward", record.layer, started)
            for t, dx in zip(record.inputs, dxs):
                if dx is not None:
                    denv[t] = self.sum(denv[t], dx) if t in denv else dx
            for p, dp in zip(record.params, dps):
                if p is not None and dp is not None:
                    dparams[p] = self.sum(dparams[p], dp) if p in dparams else dp
        return dparams

    def _trained_as_one(self, step):
        """The step's (forward, backward), backward taking attrs as a primitive's does (unused:
        the pair knows its ops')."""
        forward, backward = getattr(self.backend, "fuse_training", lambda step: None)(step) or \
            trained_as_one(step, self.kernels)
        return forward, lambda saved, dy, attrs: backward(saved, dy)

    def _train_as_one(self, index, step, env, ctx) -> None:
        """Run a step that trains as one op; its result alone is kept for backward."""
        forward, backward = self.trained[index]
        started = time.perf_counter()
        env[step.result], saved = forward([env[t] for t in step.inputs],
                                          [None if p is None else self.params[p] for p in step.params], ctx)
        self._timed("forward", step.layer, started)
        self.tape.records.append(Record(step.inputs, step.result, step.params, step.layer, step.attrs, backward,
                                        saved))

    def _timed(self, phase: str, layer: str, started: float) -> None:
        if self.profile is not None:
            per_layer = self.profile.setdefault(phase, defaultdict(float))
            per_layer[layer] += time.perf_counter() - started
