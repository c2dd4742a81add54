"""`cnnc compile --plan`: the fused schedule and what memory planning saves."""
from __future__ import annotations

from ..analysis.report import mib
from ..compiler import Analysis
from . import lower
from .memory import plan_memory
from .program import MemoryPlan, Program


def plan_text(a: Analysis, batch: int = 1) -> str:
    infer = lower(a, training=False)
    train = lower(a, training=True)
    unfused = lower(a, training=False, fused=False)
    lines = [f"inference schedule: {len(infer.steps)} fused steps from {len(unfused.steps)} ops"]
    width = len(str(len(infer.steps)))
    for i, step in enumerate(infer.steps, 1):
        slot = infer.plan.slot_of[step.result]
        lines.append(f"  {i:>{width}}. {step.describe()}  [{infer.tensors[step.result]}, buffer {slot}]")
    infer_plan, train_plan = batch_plan(infer, batch), batch_plan(train, batch)
    per = "per sample" if batch == 1 else f"for a batch of {batch}"
    lines += [f"peak activation memory at inference, {per}: {mib(infer_plan.before_bytes)} before planning, "
              f"{mib(infer_plan.after_bytes)} after (in {len(infer_plan.slot_bytes)} buffers, reused by liveness)",
              f"training keeps {mib(train_plan.after_bytes)} {per} for backward "
              f"({len(train_plan.slot_bytes)} op outputs; {_as_one(train)} with an activation in the "
              "head's store keep one output for two ops)"]
    return "\n".join(lines)


def _as_one(program: Program) -> str:
    n = sum(step.trains_as_one for step in program.steps)
    return f"{n} step{'' if n == 1 else 's'}"


def batch_plan(program: Program, batch: int) -> MemoryPlan:
    """The program's activation memory plan for a batch of `batch` (its own plan is per sample)."""
    return plan_memory(program.steps, program.tensors, list(program.inputs), program.outputs,
                       training=program.training, batch=batch)
