"""The Program: what a backend runs. Plain data — steps over named tensors, parameter shapes."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..layers.base import Param
from ..shape import Shape


@dataclass
class Step:
    """One runtime op applied to named tensors. `fused` ops run in this step's epilogue, each
    reading the previous one's output (and any extra inputs it names), as one kernel would."""
    op: str
    attrs: dict
    inputs: list[str]
    output: str
    params: list[str | None]
    layer: str
    fused: list["Step"] = field(default_factory=list)
    # In training too the step runs as one op (an activation fused after a head whose backward
    # reads only its inputs: cnnc/passes/fuse.py): only its result is kept for backward.
    trains_as_one: bool = False

    def chain(self) -> list["Step"]:
        """The primitive ops of this step in execution order."""
        return [self, *self.fused]

    @property
    def result(self) -> str:
        """The tensor this step leaves behind (its last fused op's output)."""
        return self.chain()[-1].output

    def reads(self) -> list[str]:
        """Every tensor the step reads: its inputs and the extra inputs of fused ops (a residual)."""
        return self.inputs + [t for f in self.fused for t in f.inputs[1:]]

    def describe(self) -> str:
        ops = " + ".join(s.op for s in self.chain())
        return f"{ops}({', '.join(self.reads())}) → {self.result}"


@dataclass
class MemoryPlan:
    """Activation buffers: each tensor's slot; slots are reused once a tensor is dead."""
    slot_of: dict[str, int]
    slot_bytes: list[int]
    before_bytes: int                     # every tensor in a buffer of its own
    last_use: dict[str, int]              # tensor → index of the last step that reads it

    @property
    def after_bytes(self) -> int:
        return sum(self.slot_bytes)


@dataclass
class Program:
    name: str
    inputs: dict[str, Shape]
    outputs: list[str]
    steps: list[Step]
    tensors: dict[str, Shape]             # every tensor's shape, batch axis excluded
    params: dict[str, Param]              # full name → Param (shape, trainable)
    training: bool
    plan: MemoryPlan | None = None

    def primitive_steps(self) -> list[Step]:
        return [s for step in self.steps for s in step.chain()]
