"""Located diagnostics: what went wrong, where in the spec, and what would be right.

The data (Span, SpecError) is kept apart from its rendering (`render`), as in codespan:
checks collect errors into `Diagnostics` and go on; only the CLI draws carets.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    """A spec's text, kept so a diagnostic can quote its lines."""
    path: str
    text: str

    def line(self, number: int) -> str:
        lines = self.text.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else ""


@dataclass(frozen=True)
class Span:
    """Where a YAML node sits: 1-based line and column, and how many columns it covers."""
    source: Source
    line: int
    col: int
    width: int = 1

    def __str__(self) -> str:
        return f"{self.source.path}:{self.line}:{self.col}"


@dataclass
class SpecError(Exception):
    span: Span | None                # None: the spec as a whole (e.g. an empty file)
    message: str                     # lowercase, no final period
    label: str = ""                  # printed under the carets
    help: str = ""                   # the fix, when known
    notes: list[str] = field(default_factory=list)
    severity: str = "error"
    layer: str | None = None         # the layer it is about, when there is one (draw marks it)

    def __str__(self) -> str:
        return f"{self.span}: {self.severity}: {self.message}" if self.span else self.message


class Diagnostics:
    """Collects every independent error of a spec, so one run reports them all."""

    def __init__(self) -> None:
        self.items: list[SpecError] = []

    def add(self, error: SpecError) -> None:
        self.items.append(error)

    @property
    def errors(self) -> list[SpecError]:
        return [e for e in self.items if e.severity == "error"]

    @property
    def warnings(self) -> list[SpecError]:
        return [e for e in self.items if e.severity == "warning"]

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise SpecErrors(self.items)


class SpecErrors(Exception):
    """Raised when a stage cannot go on; carries everything found so far."""

    def __init__(self, items: list[SpecError]) -> None:
        super().__init__("\n".join(map(str, items)))
        self.items = items

    @property
    def errors(self) -> list[SpecError]:
        return [e for e in self.items if e.severity == "error"]


def did_you_mean(word: str, choices, what: str) -> str:
    """A help line naming the closest choice, or listing them when there are few."""
    choices = sorted(set(choices))
    near = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if near:
        return f"did you mean '{near[0]}'?"
    if not choices:
        return ""
    if len(choices) <= 8:
        return f"{what} are: " + ", ".join(f"'{c}'" for c in choices)
    return ""


def render(error: SpecError) -> str:
    """rustc's anatomy: header, the quoted line, carets with a label, then notes and help."""
    head = f"{error.severity}: {error.message}"
    if error.span is None:
        lines = [head]
    else:
        span = error.span
        gutter = " " * len(str(span.line))
        text = span.source.line(span.line)
        carets = " " * (span.col - 1) + "^" * max(1, span.width)
        lines = [f"{span}: {head}",
                 f" {span.line} | {text}",
                 f" {gutter} | {carets}" + (f" {error.label}" if error.label else "")]
    lines += [f"  = note: {n}" for n in error.notes]
    if error.help:
        lines.append(f"  = help: {error.help}")
    return "\n".join(lines)


def render_all(items: list[SpecError]) -> str:
    """Every diagnostic in source order, then a count of the errors."""
    blocks = [render(e) for e in sorted(items, key=_position)]
    n = sum(e.severity == "error" for e in items)
    if n:
        blocks.append(f"{n} error{'s' if n != 1 else ''} found")
    return "\n\n".join(blocks)


def _position(e: SpecError):
    if e.span is None:
        return ("", 0, 0)
    return (e.span.source.path, e.span.line, e.span.col)


class LayerError(Exception):
    """Raised by a layer's rules; the analysis places it at the attribute (or layer) it names."""

    def __init__(self, message: str, attr: str | None = None, help: str = "") -> None:
        super().__init__(message)
        self.message, self.attr, self.help = message, attr, help
