"""Memory planning: which activation buffers can share memory.

At inference a tensor's buffer is free once its last reader has run, so tensors whose
lifetimes do not overlap share a slot (greedy: reuse the smallest free slot that fits,
else the largest free one, grown), and the intermediates inside a fused step are never
stored. In training a fused step runs op by op and every op's output stays alive until the
backward pass (the backward ops read them), so each has a slot of its own — but a step that
trains as one op (an activation in its head's store, Step.trains_as_one) keeps only its result.
"""
from __future__ import annotations

from .program import MemoryPlan, Step


def plan_memory(steps: list[Step], tensors: dict, inputs: list[str], outputs: list[str], *,
                training: bool, batch: int = 1) -> MemoryPlan:
    size = {t: tensors[t].bytes * batch for t in tensors}
    if training:
        results = [t for step in steps for t in kept_for_backward(step)]
        slot_bytes = [size[t] for t in results]
        return MemoryPlan(dict(zip(results, range(len(results)))), slot_bytes, sum(slot_bytes), {})
    results = [step.result for step in steps]
    last_use = {t: len(steps) for t in outputs}
    for i, step in enumerate(steps):
        for t in step.reads():
            last_use[t] = max(last_use.get(t, -1), i) if t not in outputs else len(steps)
    slot_of: dict[str, int] = {}
    slot_bytes: list[int] = []
    free: list[int] = []
    for i, result in enumerate(results):
        slot_of[result] = _take(free, slot_bytes, size[result])
        for t in [x for x in steps[i].reads() if x in slot_of and last_use.get(x) == i and x not in inputs]:
            free.append(slot_of[t])
        if last_use.get(result, -1) < i:                 # nothing reads it (a dead end): free at once
            free.append(slot_of[result])
    before = sum(size[r] for r in results)
    return MemoryPlan(slot_of, slot_bytes, before, last_use)


def kept_for_backward(step: Step) -> list[str]:
    """The tensors of a training step that stay alive until backward."""
    return [step.result] if step.trains_as_one else [op.output for op in step.chain()]


def _take(free: list[int], slot_bytes: list[int], need: int) -> int:
    if free:
        fitting = [s for s in free if slot_bytes[s] >= need]
        slot = min(fitting, key=lambda s: slot_bytes[s]) if fitting else max(free, key=lambda s: slot_bytes[s])
        free.remove(slot)
        slot_bytes[slot] = max(slot_bytes[slot], need)
        return slot
    slot_bytes.append(need)
    return len(slot_bytes) - 1
