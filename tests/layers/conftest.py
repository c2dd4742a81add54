"""Helpers for the layer tests: one-line specs through the whole front end, and where errors point.

    a = analyse("{type: conv2d, filters: 8, kernel: 3}", input="[3, 32, 32]")
    a.output_shape == (8, 30, 30)

    e = error("{type: conv2d, filters: 8, kernel: 3, groups: 2}")
    caret(e) == "  - {type: conv2d, filters: 8, kernel: 3, groups: «2»}"
"""
from __future__ import annotations

from cnnc.compiler import Analysis, analyse_text
from cnnc.spec.errors import SpecError, SpecErrors


def spec(*layers: str, input: str = "[3, 32, 32]", inputs: str | None = None) -> str:
    """A spec with one layer per line (`  - {...}`), so line 3 is the first layer."""
    head = f"inputs: {inputs}" if inputs else f"input: {input}"
    return "\n".join([head, "layers:", *(f"  - {layer}" for layer in layers)]) + "\n"


def analyse(*layers: str, **inputs) -> Analysis:
    """The analysis of a valid spec (SpecErrors if it has errors)."""
    return analyse_text(spec(*layers, **inputs))


def errors(*layers: str, **inputs) -> list[SpecError]:
    """The errors of a broken spec, in the order found (warnings left out)."""
    try:
        analyse_text(spec(*layers, **inputs))
    except SpecErrors as e:
        return e.errors
    raise AssertionError("the spec has no errors")


def error(*layers: str, **inputs) -> SpecError:
    """The one error of a broken spec."""
    found = errors(*layers, **inputs)
    assert len(found) == 1, [e.message for e in found]
    return found[0]


def caret(e: SpecError) -> str:
    """The spec line an error points at, with the span in «»: `groups: «2»`."""
    line = e.span.source.line(e.span.line)
    start, end = e.span.col - 1, e.span.col - 1 + e.span.width
    return f"{line[:start]}«{line[start:end]}»{line[end:]}"


def names(params) -> list[tuple[str, tuple]]:
    """[(name, shape), …] of a layer's parameters."""
    return [(p.name, p.shape) for p in params]


def numel(params) -> int:
    return sum(p.numel for p in params)


def assert_reported(layer: str, x: str, pointed: str, message: str, help: str) -> None:
    """A one-layer spec on input `x` fails with one error at `pointed`, saying `message` and `help`."""
    e = error(layer, input=x)
    assert pointed in caret(e)
    assert message in e.message
    assert e.help == help
