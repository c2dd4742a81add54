"""Receptive fields: how much of the input one output unit sees.

Per spatial axis: size r, effective stride j (input pixels between neighbouring outputs) and
start s (the centre of the first output unit's field, in input pixel indices, pixel 0 at 0).
A layer with kernel k, stride t, dilation d and padding p before the data composes as

    k' = d (k - 1) + 1      r ← r + (k' - 1) j      s ← s + ((k' - 1)/2 - p) j      j ← j t

Layers that see everything report Global; graph convolutions count Hops; recurrent layers Steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union


def _num(x: float):
    if isinstance(x, int):
        return x
    return int(x) if x.is_integer() else round(x, 4)


@dataclass(frozen=True)
class Spatial:
    size: tuple
    stride: tuple
    start: tuple
    aligned: bool = True          # False where a merge joined paths of different stride or start

    @classmethod
    def identity(cls, axes: int) -> "Spatial":
        return cls((1,) * axes, (1,) * axes, (0,) * axes)

    def through(self, kernel: Sequence[int], stride: Sequence[int], pad_before: Sequence[int],
                dilation: Sequence[int] | None = None) -> "Spatial":
        dilation = dilation or (1,) * len(kernel)
        if len(kernel) != len(self.size):
            return self
        size, jump, start = [], [], []
        for r, j, s, k, t, p, d in zip(self.size, self.stride, self.start, kernel, stride, pad_before, dilation):
            k_eff = d * (k - 1) + 1
            size.append(r + (k_eff - 1) * j)
            start.append(s + ((k_eff - 1) / 2 - p) * j)
            jump.append(j * t)
        return Spatial(tuple(map(_num, size)), tuple(map(_num, jump)), tuple(map(_num, start)))

    def to_json(self):
        out = {"size": list(self.size), "stride": list(self.stride), "start": list(self.start)}
        if not self.aligned:
            out["aligned"] = False
        return out

    def describe(self) -> tuple[str, str, str]:
        def fmt(xs):
            return "×".join(map(str, xs))
        return fmt(self.size), fmt(self.stride), ",".join(map(str, self.start))


@dataclass(frozen=True)
class Global:
    """Every output unit sees the whole input (after flatten, dense, global pooling, STN)."""

    def to_json(self):
        return "global"

    def describe(self):
        return "global", "", ""


@dataclass(frozen=True)
class Hops:
    n: int

    def to_json(self):
        return {"hops": self.n}

    def describe(self):
        return f"{self.n} hop{'s' if self.n != 1 else ''}", "", ""


@dataclass(frozen=True)
class Steps:
    n: int

    def to_json(self):
        return {"steps": self.n}

    def describe(self):
        return f"{self.n} step{'s' if self.n != 1 else ''}", "", ""


RF = Union[Spatial, Global, Hops, Steps]


def merge_paths(fields: Sequence[RF]) -> RF:
    """The field of a merge: the largest of its inputs; `aligned` is False when they disagree."""
    for kind in (Hops, Steps):
        found = [f.n for f in fields if isinstance(f, kind)]
        if found:
            return kind(max(found))
    if not fields or any(isinstance(f, Global) for f in fields):
        return Global()
    axes = max(len(f.size) for f in fields)
    spatial = [f for f in fields if len(f.size) == axes]
    widest = max(spatial, key=lambda f: f.size)
    aligned = all(f.stride == widest.stride and f.start == widest.start for f in spatial)
    return Spatial(tuple(max(f.size[i] for f in spatial) for i in range(axes)),
                   widest.stride, widest.start, aligned)


def receptive_fields(graph, shapes, diagnostics) -> dict:
    """The field of every layer's output, composed from the inputs; a merge of paths whose
    fields are not aligned (different stride or start) gets a warning."""
    from ..spec.errors import SpecError

    fields: dict = {}
    for inp in graph.inputs:
        fields[inp.name] = Hops(0) if inp.kind == "graph" else Spatial.identity(max(inp.shape.rank - 1, 0))
    for name in graph.order:
        if name not in shapes:
            continue
        decl = graph.decl(name)
        incoming = merge_paths([fields[t] for t in graph.data_inputs(name)])
        out = decl.layer.receptive_field(incoming, *(shapes[t] for t in decl.inputs))
        if isinstance(incoming, Spatial) and not incoming.aligned and isinstance(out, Spatial):
            out = Spatial(out.size, out.stride, out.start, aligned=False)
            diagnostics.add(SpecError(decl.span, f"'{name}' ({decl.kind}) merges paths whose receptive fields "
                                      "are not aligned (different stride or centre)", severity="warning",
                                      help="the merged units see different parts of the input; check the "
                                           "padding and strides of its branches", notes=decl.notes))
        fields[name] = out
    return fields
