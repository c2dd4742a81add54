"""The layer contract: one class per kind, attributes declared once.

A kind declares its attributes as annotated class fields (`filters: int = attr(min=1)`);
validation, defaults, `cnnc layers` and docs/layers.md all read that one declaration.
"""
from __future__ import annotations

from dataclasses import dataclass
import math
from math import ceil, prod
from typing import Any, ClassVar, Iterable, Sequence, get_type_hints

from ..analysis.rf import RF, Global, Hops, Spatial, Steps
from ..shape import Shape
from ..spec.errors import LayerError

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "required"})()

# Weight initialisers a spec may name with `init:` (cnnc/train/init.py implements them);
# "auto" is the layer kind's own default.
INITS = ("auto", "he", "xavier", "zeros", "identity_affine")


# ---------------------------------------------------------------- attribute types
class AttrError(Exception):
    def __init__(self, message: str, help: str = "") -> None:
        super().__init__(message)
        self.message, self.help = message, help


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if value is None:
        return "null"
    return str(value)


def parse_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            raise AttrError(f"expected an integer, got {_describe(value)}", f"write {int(value)}")
        raise AttrError(f"expected an integer, got {_describe(value)}")
    return value


def parse_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AttrError(f"expected a number, got {_describe(value)}")
    if not math.isfinite(value):
        raise AttrError(f"expected a finite number, got {value}")
    return float(value)


def parse_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise AttrError(f"expected true or false, got {_describe(value)}")
    return value


def parse_str(value: Any) -> str:
    if not isinstance(value, str):
        raise AttrError(f"expected a name, got {_describe(value)}")
    return value


class Pair(tuple):
    """An int for both spatial axes, or [height, width]."""

    @classmethod
    def parse(cls, value: Any) -> "Pair":
        if isinstance(value, list):
            if len(value) != 2:
                raise AttrError(f"expected one integer or [height, width], got a list of {len(value)}")
            return cls(parse_int(v) for v in value)
        return cls((parse_int(value),) * 2)


class Ints(tuple):
    """A list of integers, e.g. pyramid levels or a target shape."""

    @classmethod
    def parse(cls, value: Any) -> "Ints":
        if not isinstance(value, list) or not value:
            raise AttrError(f"expected a list of integers, got {_describe(value)}")
        return cls(parse_int(v) for v in value)


class Padding:
    """'valid', 'same' (TensorFlow's rule: output = ceil(input / stride), extra on the far side),
    an int for every side, [h, w] per axis, or [[top, bottom], [left, right]] per side."""

    def __init__(self, mode: str | None = None, sides: tuple | None = None, raw: Any = None) -> None:
        self.mode, self.sides, self.raw = mode, sides, raw

    @classmethod
    def parse(cls, value: Any) -> "Padding":
        if isinstance(value, str):
            if value not in ("valid", "same"):
                raise AttrError(f"unknown padding '{value}'", "use 'valid', 'same', an integer or a list")
            return cls(mode=value, raw=value)
        if isinstance(value, list):
            sides = []
            for v in value:
                if isinstance(v, list):
                    if len(v) != 2:
                        raise AttrError("per-side padding takes [before, after] for each axis")
                    sides.append(tuple(parse_int(x) for x in v))
                else:
                    p = parse_int(v)
                    sides.append((p, p))
            return cls(sides=tuple(sides), raw=value)
        p = parse_int(value)
        return cls(sides=((p, p),), raw=value)

    def check(self) -> str | None:
        if self.sides and any(p < 0 for side in self.sides for p in side):
            return "padding must not be negative"
        return None

    def resolve(self, sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                dilation: Sequence[int]) -> list[tuple[int, int]]:
        n = len(sizes)
        if self.mode == "valid":
            return [(0, 0)] * n
        if self.mode == "same":
            out = []
            for size, k, s, d in zip(sizes, kernel, stride, dilation):
                total = max((ceil(size / s) - 1) * s + d * (k - 1) + 1 - size, 0)
                out.append((total // 2, total - total // 2))
            return out
        if len(self.sides) == 1:
            return [self.sides[0]] * n
        if len(self.sides) != n:
            raise LayerError(f"padding gives {len(self.sides)} axes, the input has {n} spatial "
                             f"ax{'is' if n == 1 else 'es'}", "padding",
                             "give one integer, one per axis, or [[before, after]] per axis")
        return list(self.sides)

    def __eq__(self, other) -> bool:
        return isinstance(other, Padding) and (self.mode, self.sides) == (other.mode, other.sides)

    def __repr__(self) -> str:
        return _describe(self.raw)


PARSERS = {int: parse_int, float: parse_float, bool: parse_bool, str: parse_str,
           Pair: Pair.parse, Ints: Ints.parse, Padding: Padding.parse}
TYPE_NAMES = {int: "int", float: "float", bool: "bool", str: "name", Pair: "int | [h, w]",
              Ints: "[int, ...]", Padding: "valid | same | int | [per axis] | [[before, after] per axis]"}


@dataclass
class Attr:
    """One declared attribute: its type (from the annotation), default and allowed values."""
    default: Any = REQUIRED
    min: float | None = None
    max: float | None = None
    below: float | None = None              # strict upper bound, e.g. dropout rate < 1
    choices: tuple | None = None
    doc: str = ""
    type: Any = None
    name: str = ""

    def parse(self, value: Any) -> Any:
        out = PARSERS[self.type](value)
        self._check_range(out)
        if self.choices is not None and out not in self.choices:
            raise AttrError(f"'{out}' is not one of {', '.join(map(str, self.choices))}",
                            _nearest(out, self.choices))
        if isinstance(out, Padding) and out.check():
            raise AttrError(out.check())
        return out

    def _check_range(self, out: Any) -> None:
        values = out if isinstance(out, tuple) else (out,)
        for v in values:
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            if self.min is not None and v < self.min:
                raise AttrError(f"must be at least {_num(self.min)}, got {_num(v)}")
            if self.max is not None and v > self.max:
                raise AttrError(f"must be at most {_num(self.max)}, got {_num(v)}")
            if self.below is not None and v >= self.below:
                raise AttrError(f"must be below {_num(self.below)}, got {_num(v)}")

    def describe_type(self) -> str:
        if self.choices:
            return " | ".join(map(str, self.choices))
        return TYPE_NAMES[self.type]


def _num(x):
    return int(x) if float(x).is_integer() else x


def _nearest(word, choices) -> str:
    from ..spec.errors import did_you_mean
    return did_you_mean(str(word), [str(c) for c in choices], "the choices")


def attr(default: Any = REQUIRED, **rules) -> Any:
    return Attr(default=default, **rules)


# ---------------------------------------------------------------- parameters
@dataclass(frozen=True)
class Param:
    name: str                       # relative to the layer: "weight", "bias", "0.running_mean"
    shape: tuple
    trainable: bool = True

    @property
    def numel(self) -> int:
        return prod(self.shape)


# ---------------------------------------------------------------- lowering
@dataclass(frozen=True)
class Op:
    """A runtime op a layer lowers to (runtime/ops.py names it). The first op of a layer reads
    the layer's data inputs, each later one the previous op's output. `params` are the layer's
    parameter names in the op's order, None for an absent optional one."""
    op: str
    attrs: dict
    params: tuple = ()


def activation_ops(name: str, axis: int = 0) -> list[Op]:
    """The fused `activation:` of a layer, as ops: none → []; softmax along the feature axis."""
    if name == "none":
        return []
    return [Op("softmax", {"axis": axis})] if name == "softmax" else [Op(name, {})]


# ---------------------------------------------------------------- the layer base
class Layer:
    """A layer kind. Subclasses declare attributes and override the rules that apply."""

    kind: ClassVar[str] = ""
    family: ClassVar[str] = "core"
    arity: ClassVar[tuple[int, int | None]] = (1, 1)   # (fewest, most) inputs; None: no limit
    shape_only: ClassVar[tuple[int, ...]] = ()          # inputs read for their shape, not data
    internal: ClassVar[bool] = False                    # made by spec sugar, not written by users
    schema: ClassVar[dict[str, Attr]] = {}

    def __init__(self, name: str = "", **values: Any) -> None:
        unknown = set(values) - set(self.schema)
        if unknown:
            raise TypeError(f"{self.kind} has no attribute(s) {', '.join(sorted(unknown))}; "
                            f"it takes {', '.join(self.schema) or 'none'}")
        self.name = name
        for key, spec in self.schema.items():
            value = values.get(key, spec.default)
            if value is REQUIRED:
                raise TypeError(f"{self.kind}: missing attribute '{key}'")
            setattr(self, key, spec.parse(value) if key in values else value)

    @classmethod
    def from_attrs(cls, name: str, values: dict[str, Any]) -> "Layer":
        """Build from values already parsed by the schema (the expander's route)."""
        self = cls.__new__(cls)
        self.name = name
        for key, spec in cls.schema.items():
            setattr(self, key, values.get(key, spec.default))
        return self

    # The rules. Shapes come one per input, in the order of `inputs:`.
    def infer_shape(self, *xs: Shape) -> Shape:
        return xs[0]

    def params(self, *xs: Shape) -> Iterable[Param]:
        return ()

    def macs(self, xs: Sequence[Shape], y: Shape) -> int:
        return 0

    def receptive_field(self, rf: RF, *xs: Shape) -> RF:
        return rf

    def lower(self, *xs: Shape) -> list[Op]:
        """The runtime ops this layer runs as; by default one op of the same name and attributes."""
        return [Op(self.kind, self.attrs())]

    def require(self, ok: bool, message: str, attr: str | None = None, help: str = "") -> None:
        if not ok:
            raise LayerError(message, attr, help)

    def attrs(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.schema}

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.attrs().items())
        return f"{type(self).__name__}({self.name!r}, {shown})"


LAYERS: dict[str, type[Layer]] = {}


def layer(kind: str, family: str | None = None):
    """Register a Layer subclass under `kind`, collecting its annotated attributes."""
    def register(cls: type[Layer]) -> type[Layer]:
        cls.kind = kind
        if family:
            cls.family = family
        hints = get_type_hints(cls)
        schema: dict[str, Attr] = {}
        for klass in reversed(cls.__mro__):
            for name in vars(klass).get("__annotations__", {}):
                spec = vars(klass).get(name)
                if isinstance(spec, Attr):
                    full = Attr(**{**spec.__dict__, "type": hints[name], "name": name})
                    if full.default is not REQUIRED and full.default is not None:
                        full.default = full.parse(full.default)   # defaults are read like values
                    schema[name] = full
        # required attributes first, then the rest in declaration order
        cls.schema = dict(sorted(schema.items(), key=lambda kv: kv[1].default is not REQUIRED))
        LAYERS[kind] = cls
        return cls
    return register


# ---------------------------------------------------------------- shared arithmetic
def window_out(size: int, kernel: int, stride: int, pads: tuple[int, int], dilation: int = 1,
               ceil_mode: bool = False) -> int:
    """Output length of a sliding window (PyTorch's rule, ceil_mode included)."""
    span = size + pads[0] + pads[1] - dilation * (kernel - 1) - 1
    if span < 0:
        return 0
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pads[0]:
        out -= 1                       # the last window must start inside the input
    return out


class Windowed(Layer):
    """Shared rules of layers that slide a window over the spatial axes of (C, *spatial)."""

    spatial_axes: ClassVar[int] = 2
    ceil_mode: bool = False

    def window(self) -> tuple[tuple, tuple, tuple]:
        """(kernel, stride, dilation), one entry per spatial axis."""
        raise NotImplementedError

    def pads(self, x: Shape) -> list[tuple[int, int]]:
        kernel, stride, dilation = self.window()
        return self.padding.resolve(x[1:], kernel, stride, dilation)

    def spatial_out(self, x: Shape) -> tuple[int, ...]:
        kernel, stride, dilation = self.window()
        out = tuple(window_out(n, k, s, p, d, self.ceil_mode)
                    for n, k, s, p, d in zip(x[1:], kernel, stride, self.pads(x), dilation))
        if any(o < 1 for o in out):
            k_eff = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
            raise LayerError(f"output would be empty: input {'×'.join(map(str, x[1:]))} is smaller "
                             f"than the {'×'.join(map(str, k_eff))} window", "kernel",
                             "use a smaller kernel or stride, padding, or a larger input")
        return out

    def receptive_field(self, rf: RF, x: Shape) -> RF:
        if not isinstance(rf, Spatial):
            return rf
        kernel, stride, dilation = self.window()
        return rf.through(kernel, stride, [p[0] for p in self.pads(x)], dilation)


__all__ = ["Attr", "AttrError", "Global", "Hops", "Steps", "Ints", "LAYERS", "Layer", "LayerError", "Padding", "Pair",
           "Param", "REQUIRED", "RF", "Shape", "Spatial", "Windowed", "attr", "layer", "window_out"]
