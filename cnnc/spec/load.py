"""YAML text → a tree of `Node`s, each knowing its file:line:col.

Loading is safe: PyYAML only composes the node tree (no constructor runs, so no Python
object is ever built from a tag), and scalars are converted here by their core tag alone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import SpecError, SpecErrors, Source, Span

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):
    """SafeLoader that reads `1e-4` as a float, as users write it (YAML 1.1 wants `1.0e-4`)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

_TAG = "tag:yaml.org,2002:"
MAX_NODES = 200_000


def _int(text: str) -> int:
    t = text.replace("_", "")
    sign = -1 if t.startswith("-") else 1
    t = t.lstrip("+-")
    if ":" in t:                                   # YAML 1.1 sexagesimal, 1:30 == 90
        return sign * sum(int(p) * 60 ** i for i, p in enumerate(reversed(t.split(":"))))
    if len(t) > 1 and t[0] == "0" and t[1].isdigit():
        return sign * int(t, 8)                    # YAML 1.1 octal, 010 == 8
    return sign * int(t, 0)


def _float(text: str) -> float:
    t = text.replace("_", "").lower()
    if t.endswith((".inf", ".nan")):
        return float(t.replace(".", ""))
    return float(t)


_SCALARS = {
    _TAG + "null": lambda v: None,
    _TAG + "bool": lambda v: v.lower() in ("true", "yes", "on", "y"),
    _TAG + "int": _int,
    _TAG + "float": _float,
    _TAG + "str": str,
}


@dataclass(eq=False)
class Node:
    """A YAML value with its place: a dict of Nodes, a list of Nodes, or a plain scalar."""
    value: Any
    span: Span
    key_spans: dict[str, Span] = field(default_factory=dict)

    @property
    def is_map(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_list(self) -> bool:
        return isinstance(self.value, list)

    def key_span(self, key: str) -> Span:
        return self.key_spans.get(key, self.span)

    def plain(self) -> Any:
        """The value with all Nodes stripped, for places that need plain data."""
        if self.is_map:
            return {k: v.plain() for k, v in self.value.items()}
        if self.is_list:
            return [v.plain() for v in self.value]
        return self.value

    def __repr__(self) -> str:
        return f"Node({self.plain()!r} @ {self.span})"


def load(path: str) -> Node:
    """Read and parse a spec file; raises SpecErrors for anything that is not YAML we accept."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise SpecErrors([SpecError(None, f"{path}: not a UTF-8 text file ({e.reason})")])
    except OSError as e:
        raise SpecErrors([SpecError(None, f"cannot read {path}: {e.strerror}")])
    return load_text(text, path)


def load_text(text: str, path: str = "<string>") -> Node:
    source = Source(path, text)
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        raise SpecErrors([_syntax_error(e, source)]) from None
    except yaml.YAMLError as e:
        raise SpecErrors([SpecError(None, f"{path}: invalid YAML: {e}")]) from None
    if root is None:
        raise SpecErrors([SpecError(Span(source, 1, 1), "the spec is empty",
                                    help="a spec needs at least `input:` and `layers:`")])
    converter = _Converter(source)
    node = converter.convert(root)
    if converter.errors:
        raise SpecErrors(converter.errors)
    return node


def _syntax_error(e: yaml.MarkedYAMLError, source: Source) -> SpecError:
    mark = e.problem_mark or e.context_mark
    notes = []
    if e.context and e.context_mark and e.context_mark is not mark:
        notes.append(f"{e.context} at line {e.context_mark.line + 1}, column {e.context_mark.column + 1}")
    return SpecError(Span(source, mark.line + 1, mark.column + 1),
                     f"invalid YAML: {e.problem}", notes=notes)


class _Converter:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.errors: list[SpecError] = []
        self.memo: dict[int, Node] = {}
        self.count = 0

    def span(self, node: yaml.Node) -> Span:
        start, end = node.start_mark, node.end_mark
        width = end.column - start.column if end.line == start.line else 1
        return Span(self.source, start.line + 1, start.column + 1, max(1, width))

    def convert(self, node: yaml.Node) -> Node:
        if id(node) in self.memo:             # an alias: share the converted node
            return self.memo[id(node)]
        self.count += 1
        if self.count > MAX_NODES:
            self.errors.append(SpecError(self.span(node), "the spec is too large",
                                         help=f"a spec may hold at most {MAX_NODES} YAML values"))
            raise SpecErrors(self.errors)
        span = self.span(node)
        if self._explicit_tag(node):
            self.errors.append(SpecError(span, f"YAML tag '{node.tag.replace(_TAG, '!!')}' is not allowed",
                                         "tags are not read", "write the plain value without a tag"))
            out = Node(None, span)
        elif isinstance(node, yaml.MappingNode):
            out = self._mapping(node, span)
        elif isinstance(node, yaml.SequenceNode):
            out = Node([], span)
            self.memo[id(node)] = out
            out.value.extend(self.convert(item) for item in node.value)
        else:
            out = Node(_SCALARS.get(node.tag, str)(node.value), span)
        self.memo[id(node)] = out
        return out

    def _explicit_tag(self, node: yaml.Node) -> bool:
        start = node.start_mark.index
        return self.source.text[start:start + 1] == "!"

    def _mapping(self, node: yaml.MappingNode, span: Span) -> Node:
        out = Node({}, span)
        self.memo[id(node)] = out
        for key_node, value_node in node.value:
            key_span = self.span(key_node)
            if key_node.tag == _TAG + "merge":
                self.errors.append(SpecError(key_span, "YAML merge keys (<<) are not supported",
                                             help="use `defaults:` or a block instead"))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.errors.append(SpecError(key_span, "a mapping key must be a plain name"))
                continue
            key = str(key_node.value)
            if key in out.value:
                first = out.key_spans[key]
                self.errors.append(SpecError(key_span, f"duplicate key '{key}'", "defined again here",
                                             notes=[f"first defined at line {first.line}, column {first.col}"]))
                continue
            out.key_spans[key] = key_span
            out.value[key] = self.convert(value_node)
        return out
