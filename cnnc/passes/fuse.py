"""Fusion: fold ops into their producer's epilogue, so a backend can run them as one kernel.

- elementwise ops (activations, dropout) whose input has no other reader join their producer;
- at inference, a batchnorm after a convolution or dense layer joins it too (a backend folds
  its statistics into the weights);
- an `add` whose first input is a convolution's (or its chain's) output and read by nothing
  else joins that convolution: the residual add of a ResNet block runs in the conv's store.

In training a step runs op by op, every op's output kept for backward, unless it is a head
whose backward reads only its inputs (conv, dense, batchnorm, add) followed by one activation
whose backward can read its output instead of its input (relu, relu6, tanh, sigmoid): that
step trains as one op (`Step.trains_as_one`) and keeps only its result — the activation runs
in the head's store, and its derivative is taken from its output.
"""
from __future__ import annotations

from collections import Counter

from cnnc.runtime.ops import OPS

from .program import Step

PRODUCERS = {"conv2d", "conv1d", "dense", "gcn_conv"}


def fuse(steps: list[Step], outputs: list[str], *, training: bool) -> list[Step]:
    readers = Counter(t for step in steps for t in step.inputs)
    readers.update(outputs)                      # a network output must stay visible
    fused: list[Step] = []
    by_result: dict[str, Step] = {}
    made_at = {t: -1 for step in steps for t in step.inputs}        # tensor → step that makes it
    made_at.update({step.output: i for i, step in enumerate(steps)})
    position = {}                                                  # fused head → its index in `steps`
    for i, step in enumerate(steps):
        head = _producer(step, by_result, readers, training)
        if head is not None and step.op == "add" and made_at[step.inputs[1]] > position[id(head)]:
            head = None                          # the residual must exist before the head runs
        if head is None:
            step = Step(step.op, step.attrs, step.inputs, step.output, step.params, step.layer)
            fused.append(step)
            by_result[step.output] = step
            position[id(step)] = i
            continue
        del by_result[head.result]
        head.fused.append(step)
        by_result[head.result] = head
    for step in fused if training else []:
        step.trains_as_one = _trains_as_one(step)
    return fused


def _trains_as_one(step: Step) -> bool:
    chain = step.chain()
    return (len(chain) == 2 and OPS[chain[0].op].backward_from_inputs and OPS[chain[1].op].grad_from_output)


def _producer(step: Step, by_result: dict[str, Step], readers: Counter, training: bool) -> Step | None:
    """The earlier step this op can join, or None."""
    source = step.inputs[0] if step.inputs else None
    head = by_result.get(source)
    if head is None or readers[source] != 1:
        return None
    if OPS[step.op].elementwise and (step.op != "dropout" or not training):
        return head
    if head.op in PRODUCERS and not training and step.op == "batchnorm" and not head.fused:
        return head
    if head.op in PRODUCERS and step.op == "add" and len(step.inputs) == 2:
        return head
    return None
