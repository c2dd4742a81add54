"""Spec nodes → a flat list of layer declarations.

Blocks are called with their parameters substituted, `repeat:` unrolled, `residual:` and
`parallel:` turned into the layers they stand for, `defaults:` merged under each layer's own
attributes, and every `inputs:` reference resolved to a full layer name. Errors are collected
and expansion goes on, so one run reports every independent mistake.
"""
from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..layers import LAYERS
from ..layers.base import REQUIRED, AttrError, Layer
from ..shape import Shape
from .errors import Diagnostics, SpecError, Span, did_you_mean
from .expr import ExprError, evaluate
from .load import Node

MAX_REPEAT = 10_000
MAX_LAYERS = 100_000
MAX_DEPTH = 64
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LAYER_NAME = re.compile(r"[A-Za-z0-9_]+")      # "0" too: PyTorch's Sequential children are numbered
TOP_KEYS = ("name", "description", "input", "inputs", "defaults", "blocks", "layers", "train")
ITEM_FORMS = ("type", "block", "residual", "parallel")
ITEM_KEYS = (*ITEM_FORMS, "name", "inputs", "repeat", "first")   # the rest are attributes or parameters
DTYPES = ("float32", "float64", "int32", "int64")


@dataclass
class InputDecl:
    name: str
    shape: Shape
    kind: str                       # "tensor" or "graph" (an adjacency matrix)
    span: Span


@dataclass
class LayerDecl:
    name: str                       # full, PyTorch-style path: layer1.0.conv1
    kind: str
    layer: Layer | None             # None when its attributes had errors (it is then skipped)
    inputs: list[str]               # full names of the tensors it reads
    span: Span                      # the layer's mapping, for errors about the layer as a whole
    attr_spans: dict[str, Span] = field(default_factory=dict)
    groups: tuple[str, ...] = ()    # enclosing block calls / repeats / named regions, outermost first
    regions: tuple[str, ...] = ()   # the same and unnamed residual/parallel regions too (draw's clusters)
    notes: list[str] = field(default_factory=list)   # "in block 'x' called at …"


@dataclass
class Spec:
    name: str
    inputs: list[InputDecl]
    layers: list[LayerDecl]
    groups: dict[str, str]          # group path → what it is: block name, "repeat", "residual" …
    root: Node
    regions: dict[str, str] = field(default_factory=dict)   # region id → label (groups included)

    @property
    def train(self) -> Node | None:
        """The `train:` section (defaults for `cnnc train`), checked by cnnc/train/config.py."""
        return self.root.value.get("train") if self.root.is_map else None


@dataclass
class Scope:
    """Where an item is expanded: its name prefix, block parameters and call chain."""
    prefix: str = ""
    params: dict[str, tuple[Any, Span]] = field(default_factory=dict)
    calls: tuple[tuple[str, Span], ...] = ()
    groups: tuple[str, ...] = ()
    counters: Counter = field(default_factory=Counter)
    regions: tuple[str, ...] = ()

    def full(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def nested(self, prefix: str, params: dict | None = None, calls: tuple | None = None) -> "Scope":
        """A new naming level (block call, repeat, named region) inside this one."""
        return Scope(prefix=prefix, params=self.params if params is None else params,
                     calls=self.calls if calls is None else calls, groups=self.groups + (prefix,),
                     regions=self.regions + (prefix,))

    def within(self, region: str) -> "Scope":
        """Inside an unnamed region: same names and counters, one more drawing cluster."""
        return Scope(self.prefix, self.params, self.calls, self.groups, self.counters, self.regions + (region,))

    def auto_name(self, kind: str) -> str:
        index = self.counters[kind]
        self.counters[kind] += 1
        return f"{kind}{index}"

    def notes(self) -> list[str]:
        return [f"in block '{name}' called at {span}" for name, span in reversed(self.calls)]


def expand(root: Node, diagnostics: Diagnostics) -> Spec:
    return _Expander(root, diagnostics).run()


class _Expander:
    def __init__(self, root: Node, diagnostics: Diagnostics) -> None:
        self.root, self.diag = root, diagnostics
        self.layers: list[LayerDecl] = []
        self.names: dict[str, Span] = {}           # every layer and input name → where made
        self.aliases: dict[str, str] = {}          # a repeated or called item's name → its output
        self.groups: dict[str, str] = {}
        self.regions: dict[str, str] = {}
        self.defaults: dict[str, Node] = {}
        self.blocks: dict[str, Node] = {}
        self.too_many = False
        self.pending: dict[str, tuple[str, Span, Scope]] = {}   # token → reference, resolved at the end
        self.resolved: dict[str, str | None] = {}

    # ------------------------------------------------------------ helpers
    def error(self, span: Span, message: str, label: str = "", help: str = "", scope: Scope | None = None) -> None:
        self.diag.add(SpecError(span, message, label, help, notes=scope.notes() if scope else []))

    def run(self) -> Spec:
        root = self.root
        if not root.is_map:
            self.error(root.span, "a spec must be a mapping with `input:` and `layers:`",
                       help="start with `input: [3, 224, 224]` and `layers: [...]`")
            return Spec("", [], [], {}, root)
        for key in root.value:
            if key not in TOP_KEYS:
                self.error(root.key_span(key), f"unknown top-level key '{key}'", "not a spec key",
                           did_you_mean(key, TOP_KEYS, "the keys"))
        name = root.value.get("name")
        spec_name = _stem(root.span.source.path)
        if name is not None and not isinstance(name.value, str):
            self.error(name.span, "`name:` must be a text", help="e.g. `name: resnet50`")
        elif name is not None:
            spec_name = name.value
        inputs = self.read_inputs(root)
        self.read_defaults(root.value.get("defaults"))
        self.read_blocks(root.value.get("blocks"))
        layers = root.value.get("layers")
        if layers is None:
            self.error(root.span, "the spec has no `layers:`", help="add `layers:` with a list of layers")
        elif not layers.is_list:
            self.error(layers.span, "`layers:` must be a list", help="write each layer as `- {type: ...}`")
        elif not layers.value:
            self.error(layers.span, "`layers:` is empty", help="a network needs at least one layer")
        else:
            first = inputs[0].name if len(inputs) == 1 else None
            self.items(layers, Scope(), first, several_inputs=[i.name for i in inputs] if len(inputs) > 1 else None)
        self.resolve_references()
        return Spec(spec_name, inputs, self.layers, self.groups, root, {**self.regions, **self.groups})

    # ------------------------------------------------------------ inputs, defaults, blocks
    def read_inputs(self, root: Node) -> list[InputDecl]:
        one, many = root.value.get("input"), root.value.get("inputs")
        if one is not None and many is not None:
            self.error(root.key_span("inputs"), "give either `input:` or `inputs:`, not both")
        if one is None and many is None:
            self.error(root.span, "the spec has no `input:`",
                       help="add `input: [channels, height, width]` (without the batch axis)")
            return []
        if one is not None:
            found = [self.read_input("input", one, root.key_span("input"))]
        elif not many.is_map or not many.value:
            self.error(many.span, "`inputs:` must map names to shapes",
                       help="e.g. `inputs: {x: [2708, 1433], adj: {shape: [2708, 2708], kind: graph}}`")
            return []
        else:
            found = [self.read_input(k, v, many.key_span(k)) for k, v in many.value.items()]
        for decl in found:
            if decl is not None:
                self.names[decl.name] = decl.span
        return [d for d in found if d is not None]

    def read_input(self, name: str, node: Node, span: Span) -> InputDecl | None:
        if not NAME.fullmatch(name):
            self.error(span, f"'{name}' is not a valid input name", help="use letters, digits and _")
            return None
        kind, dtype, shape_node = "tensor", "float32", node
        if node.is_map:
            for key in node.value:
                if key not in ("shape", "kind", "dtype"):
                    self.error(node.key_span(key), f"unknown input key '{key}'", "",
                               did_you_mean(key, ("shape", "kind", "dtype"), "the keys"))
            shape_node = node.value.get("shape")
            if shape_node is None:
                self.error(node.span, f"input '{name}' has no `shape:`")
                return None
            kind = self.choice(node.value.get("kind"), ("tensor", "graph"), "tensor")
            dtype = self.choice(node.value.get("dtype"), DTYPES, "float32")
        dims = self.shape(shape_node)
        if dims is None:
            return None
        return InputDecl(name, Shape(*dims, dtype=dtype), kind, span)

    def shape(self, node: Node) -> list[int] | None:
        bad = not node.is_list or not node.value or any(
            isinstance(d.value, bool) or not isinstance(d.value, int) or d.value < 1 for d in node.value)
        if bad:
            self.error(node.span, f"a shape must be a list of positive integers, got {node.plain()!r}",
                       help="e.g. [3, 224, 224] for channels, height, width (no batch axis)")
            return None
        return [d.value for d in node.value]

    def choice(self, node: Node | None, choices: tuple, default: str) -> str:
        if node is None:
            return default
        if node.value not in choices:
            self.error(node.span, f"'{node.value}' is not one of {', '.join(choices)}", "",
                       did_you_mean(str(node.value), choices, "the choices"))
            return default
        return node.value

    def read_defaults(self, node: Node | None) -> None:
        if node is None:
            return
        if not node.is_map:
            self.error(node.span, "`defaults:` must map layer kinds to attributes",
                       help="e.g. `defaults: {conv2d: {padding: same}}`")
            return
        for kind, attrs in node.value.items():
            if kind not in LAYERS or LAYERS[kind].internal:
                self.unknown_kind(kind, node.key_span(kind))
            elif not attrs.is_map:
                self.error(attrs.span, f"defaults for '{kind}' must be a mapping of attributes")
            else:
                for key in attrs.value:
                    if key not in LAYERS[kind].schema:
                        self.unknown_attr(kind, key, attrs.key_span(key), Scope())
                self.defaults[kind] = attrs

    def read_blocks(self, node: Node | None) -> None:
        if node is None:
            return
        if not node.is_map:
            self.error(node.span, "`blocks:` must map block names to definitions")
            return
        for name, body in node.value.items():
            span = node.key_span(name)
            if not NAME.fullmatch(name):
                self.error(span, f"'{name}' is not a valid block name", help="use letters, digits and _")
            elif name in LAYERS:
                self.error(span, f"block '{name}' has the name of a layer kind", help="rename the block")
            elif not body.is_map or not isinstance(body.value.get("layers"), Node):
                self.error(span, f"block '{name}' needs `layers:`",
                           help="a block is `{params: {...}, layers: [...]}`")
            else:
                for key in body.value:
                    if key not in ("params", "layers", "description"):
                        self.error(body.key_span(key), f"unknown key '{key}' in block '{name}'", "",
                                   did_you_mean(key, ("params", "layers", "description"), "the keys"))
                params = body.value.get("params")
                if params is not None and not params.is_map:
                    self.error(params.span, f"`params:` of block '{name}' must be a mapping",
                               help="e.g. `params: {filters: required, stride: 1}`")
                    continue
                self.blocks[name] = body

    # ------------------------------------------------------------ items
    def items(self, seq: Node, scope: Scope, prev: str | None, several_inputs: list[str] | None = None) -> str | None:
        if not seq.is_list:
            self.error(seq.span, "expected a list of layers", help="write each layer as `- {type: ...}`",
                       scope=scope)
            return prev
        for item in seq.value:
            prev = self.item(item, scope, prev, several_inputs)
            several_inputs = None
            if self.too_many:
                break
        return prev

    def item(self, item: Node, scope: Scope, prev: str | None, several_inputs) -> str | None:
        mark = len(self.diag.items)
        try:
            out = self.one_item(item, scope, prev, several_inputs)
        except _Reported:           # a value of the item was wrong and has been reported
            out = self.broken(item, scope, None, "layer")
        if out is not None and self.layers and self.layers[-1].name == out and self.layers[-1].kind == "?":
            self.tag(mark, out)
        return out

    def tag(self, mark: int, layer: str) -> None:
        """Errors reported since `mark` are about `layer` (unless already claimed)."""
        for e in self.diag.items[mark:]:
            e.layer = e.layer or layer

    def one_item(self, item: Node, scope: Scope, prev: str | None, several_inputs) -> str | None:
        if not item.is_map:
            self.error(item.span, "a layer must be a mapping", help="e.g. `- {type: relu}`", scope=scope)
            return prev
        forms = [f for f in ITEM_FORMS if f in item.value]
        if len(forms) != 1:
            message = ("a layer needs one of `type:`, `block:`, `residual:` or `parallel:`" if not forms
                       else f"a layer has one of `type:`, `block:`, `residual:`, `parallel:`; this one has {len(forms)}")
            self.error(item.span, message, help=self.form_help(item), scope=scope)
            return prev
        form = forms[0]
        name_node = item.value.get("name")
        if name_node is not None and layer_name(name_node.value) is None:
            self.error(name_node.span, f"{name_node.value!r} is not a valid layer name",
                       help="use letters, digits and _ (dots separate nested names)", scope=scope)
            name_node = None
        refs = self.input_refs(item, scope)
        if refs is None and prev is None:
            if several_inputs:
                self.error(item.span, f"the spec has several inputs ({', '.join(several_inputs)}); "
                           "say which this layer reads", help="add `inputs: [...]`", scope=scope)
            return None
        repeat = self.repeat_count(item, scope)
        if repeat is None:
            return prev
        label = self.form_label(form, item, scope)
        if label is None:
            return self.broken(item, scope, name_node, form, refs if refs is not None else [prev])
        named = name_node is not None
        base = scope.full(layer_name(name_node.value)) if named else scope.full(scope.auto_name(label))
        if repeat == 0:
            return self.first_input(refs, prev)
        copies = range(repeat) if "repeat" in item.value else [None]
        if "repeat" in item.value:
            self.groups[base] = f"{label} ×{repeat}"
            if named:
                self.claim(base, name_node.span, scope)
            copy_scope = scope.nested(base)
        else:
            copy_scope = scope
        out = prev
        first = self.first_overrides(item, form, scope)
        for k in copies:
            path = base if k is None else f"{base}.{k}"
            source = refs if k in (None, 0) else None
            out = self.expand_form(form, first if k == 0 else item, copy_scope, path, source, out,
                                   named=named or k is not None)
            if self.too_many:
                return out
        if "repeat" in item.value or form == "block":
            if out is not None:
                self.aliases.setdefault(base, out)
        return out

    def first_overrides(self, item: Node, form: str, scope: Scope) -> Node:
        """`first: {stride: 2}`: attributes or parameters that only the first copy of a
        repeated item takes (a ResNet stage whose first block downsamples)."""
        first = item.value.get("first")
        if first is None:
            return item
        if "repeat" not in item.value or form not in ("type", "block") or not first.is_map:
            self.error(item.key_span("first"), "`first:` needs `repeat:` on a layer or block call, and a mapping",
                       help="e.g. `{block: basic, repeat: 3, first: {stride: 2}}`", scope=scope)
            return item
        fixed = ("type", "block", "name", "inputs", "repeat", "first")
        for key in first.value:
            if key in fixed:
                self.error(first.key_span(key), f"`first:` cannot change `{key}`", scope=scope)
        value = {**item.value, **{k: v for k, v in first.value.items() if k not in fixed}}
        return Node(value, item.span, {**item.key_spans, **first.key_spans})

    def form_help(self, item: Node) -> str:
        keys = [k for k in item.value if k not in ITEM_KEYS]
        near = [did_you_mean(k, ITEM_FORMS, "") for k in keys]
        near = [n for n in near if n]
        return near[0] if near else "e.g. `- {type: conv2d, filters: 64, kernel: 3}` or `- {block: stage}`"

    def form_label(self, form: str, item: Node, scope: Scope) -> str | None:
        """What an unnamed item is called: its layer kind, its block's name, 'residual' …"""
        value = item.value[form]
        if form == "type":
            kind = self.scalar(value, scope)
            if not isinstance(kind, str) or kind not in LAYERS or LAYERS[kind].internal:
                self.unknown_kind(kind, value.span, scope)
                return None
            return kind
        if form == "block":
            name = self.scalar(value, scope)
            if not isinstance(name, str) or name not in self.blocks:
                self.error(value.span, f"unknown block '{name}'", "no such block",
                           did_you_mean(str(name), self.blocks, "the blocks") or
                           ("define it under `blocks:`" if not self.blocks else ""), scope)
                return None
            if any(name == called for called, _ in scope.calls):
                chain = " → ".join([c for c, _ in scope.calls] + [name])
                self.error(value.span, f"block '{name}' uses itself ({chain})", "recursive call",
                           "a block may call other blocks, but not itself", scope)
                return None
            if len(scope.calls) >= MAX_DEPTH:
                self.error(value.span, f"blocks nest deeper than {MAX_DEPTH} calls", scope=scope)
                return None
            return name
        if not value.is_map:
            self.error(value.span, f"`{form}:` must be a mapping",
                       help="e.g. `residual: {layers: [...]}`" if form == "residual" else
                       "e.g. `parallel: {branches: [[...], [...]], merge: concat}`", scope=scope)
            return None
        return form

    def expand_form(self, form: str, item: Node, scope: Scope, path: str, refs, prev, named: bool) -> str | None:
        if form == "type":
            return self.layer(item, scope, path, refs, prev)
        if form == "block":
            return self.block_call(item, scope, path, refs, prev)
        return self.region(form, item, scope, path, refs, prev, named)

    # ------------------------------------------------------------ references and names
    def input_refs(self, item: Node, scope: Scope) -> list[str] | None:
        """`inputs:` as tokens; names may point forward, so they are resolved at the end."""
        node = item.value.get("inputs")
        if node is None:
            return None
        values = node.value if node.is_list else [node]
        refs = []
        for v in values:
            ref = self.scalar(v, scope)
            if not isinstance(ref, str) or not re.fullmatch(r"[A-Za-z0-9_.]+", ref):
                self.error(v.span, f"{ref!r} is not a layer name", help="write the name of a layer or input",
                           scope=scope)
            else:
                token = f"\0ref{len(self.pending)}"
                self.pending[token] = (ref, v.span, scope)
                refs.append(token)
        if not refs:
            self.error(node.span, "`inputs:` is empty", help="name at least one layer or input", scope=scope)
        return refs

    def first_input(self, refs, prev):
        return prev if refs is None else refs[0]

    def claim(self, name: str, span: Span, scope: Scope) -> bool:
        if name in self.names:
            first = self.names[name]
            self.diag.add(SpecError(span, f"the name '{name}' is used twice", "used again here",
                                    help="give each layer its own name",
                                    notes=scope.notes() + [f"first used at {first}"]))
            return False
        self.names[name] = span
        return True

    def resolve_references(self) -> None:
        for decl in self.layers:
            targets = [self.resolve(t) if t in self.pending else t for t in decl.inputs]
            if None in targets:
                decl.layer = None
            decl.inputs = [t for t in targets if t is not None]

    def resolve(self, token: str) -> str | None:
        if token not in self.resolved:
            ref, span, scope = self.pending[token]
            target = self.lookup(ref, scope)
            if target is None:
                visible = set(self.names) | set(self.aliases)
                local = visible | {n.rsplit(".", 1)[-1] for n in visible}
                self.error(span, f"unknown layer or input '{ref}'", "not defined",
                           did_you_mean(ref, local, "the names"), scope)
            self.resolved[token] = target
        return self.resolved[token]

    def lookup(self, ref: str, scope: Scope) -> str | None:
        parts = scope.prefix.split(".") if scope.prefix else []
        for cut in range(len(parts), -1, -1):
            candidate = ".".join(parts[:cut] + [ref])
            if candidate in self.aliases:
                return self.aliases[candidate]
            if candidate in self.names:
                return candidate
        return None

    # ------------------------------------------------------------ one layer
    def layer(self, item: Node, scope: Scope, path: str, refs, prev) -> str:
        kind = self.scalar(item.value["type"], scope)
        cls = LAYERS[kind]
        inputs = [prev] if refs is None else list(refs)
        mark = len(self.diag.items)
        decl = LayerDecl(path, kind, None, inputs, item.span, groups=scope.groups, notes=scope.notes(),
                         regions=scope.regions)
        self.add_decl(decl, item.value["name"].span if "name" in item.value else item.span, scope)
        if refs is not None:
            decl.attr_spans["inputs"] = item.value["inputs"].span
        given = {k: v for k, v in item.value.items() if k not in ITEM_KEYS}
        for key, value in self.defaults.get(kind, Node({}, item.span)).value.items():
            given.setdefault(key, value)
        values, ok, misspelt = {}, True, set()
        for key, node in given.items():
            decl.attr_spans[key] = node.span
            if key not in cls.schema:
                misspelt.add(self.unknown_attr(kind, key, item.key_span(key), scope))
                ok = False
                continue
            try:
                values[key] = cls.schema[key].parse(self.value(node, scope))
            except AttrError as e:
                self.error(node.span, f"{kind} attribute '{key}': {e.message}", "", e.help, scope)
                ok = False
            except _Reported:
                ok = False
        for key, spec in cls.schema.items():
            if spec.default is REQUIRED and key not in given and key not in misspelt:
                self.error(item.span, f"{kind} needs `{key}`", f"missing `{key}`",
                           f"add `{key}: <{spec.describe_type()}>`" + (f" ({spec.doc})" if spec.doc else ""), scope)
                ok = False
        if ok and decl.name == path:          # (a duplicate name was renamed and stays unchecked)
            decl.layer = cls.from_attrs(path, values)
        self.tag(mark, decl.name)
        return path

    def add_decl(self, decl: LayerDecl, span: Span, scope: Scope) -> None:
        if not self.claim(decl.name, span, scope):
            decl.name = f"{decl.name}\0{len(self.layers)}"     # a duplicate: kept out of the way, unchecked
            decl.layer = None
        self.layers.append(decl)
        if len(self.layers) > MAX_LAYERS and not self.too_many:
            self.too_many = True
            self.error(span, f"the spec expands to more than {MAX_LAYERS:,} layers",
                       help="check the `repeat:` counts", scope=scope)

    def internal(self, kind: str, path: str, inputs: list[str], span: Span, scope: Scope, **attrs) -> str:
        """A layer the spec's sugar stands for (merge, shortcut, split); defaults do not apply."""
        decl = LayerDecl(path, kind, LAYERS[kind].from_attrs(path, attrs), list(inputs), span,
                         groups=scope.groups, notes=scope.notes(), regions=scope.regions)
        self.add_decl(decl, span, scope)
        return path

    def broken(self, item: Node, scope: Scope, name_node: Node | None, form: str, inputs=()) -> str:
        """Stands in for an item that could not be read, so layers after it are not checked
        against a wrong input (their errors would only echo this one)."""
        label = layer_name(name_node.value) if name_node is not None else scope.auto_name(form)
        decl = LayerDecl(scope.full(label), "?", None, [t for t in inputs if t is not None], item.span,
                         groups=scope.groups, regions=scope.regions)
        self.layers.append(decl)
        return decl.name

    def unknown_kind(self, kind: Any, span: Span, scope: Scope | None = None) -> None:
        users = [k for k, c in LAYERS.items() if not c.internal]
        hint = did_you_mean(str(kind), users, "") or "`cnnc layers` lists them"
        if str(kind) in self.blocks:
            hint = f"'{kind}' is a block: write `block: {kind}`"
        self.error(span, f"unknown layer type '{kind}'", "not a layer kind", hint, scope)

    def unknown_attr(self, kind: str, key: str, span: Span, scope: Scope) -> str | None:
        """Report an unknown attribute; return the attribute it probably meant."""
        schema = LAYERS[kind].schema
        near = difflib.get_close_matches(key, schema, n=1, cutoff=0.6)
        hint = f"did you mean '{near[0]}'?" if near else (
            f"{kind} takes no attributes" if not schema else f"{kind} takes: {', '.join(schema)}")
        self.error(span, f"unknown attribute '{key}' for {kind}", "not an attribute", hint, scope)
        return near[0] if near else None

    # ------------------------------------------------------------ values
    def value(self, node: Node, scope: Scope) -> Any:
        if node.is_list:
            return [self.value(v, scope) for v in node.value]
        if node.is_map:
            return {k: self.value(v, scope) for k, v in node.value.items()}
        return self.scalar(node, scope)

    def scalar(self, node: Node, scope: Scope) -> Any:
        """A plain value, or a $parameter / integer expression evaluated in `scope`."""
        value = node.value
        if not isinstance(value, str) or "$" not in value:
            return value
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", value.strip())
        try:
            if whole:
                return self.param(whole.group(1), scope)
            return evaluate(value, lambda name: self.param(name, scope))
        except ExprError as e:
            self.error(node.span, f"in '{value}': {e}", help=getattr(e, "help", ""), scope=scope)
            raise _Reported from None

    def param(self, name: str, scope: Scope) -> Any:
        if name not in scope.params:
            e = ExprError(f"unknown parameter ${name}")
            where = f"block '{scope.calls[-1][0]}'" if scope.calls else "the top level"
            e.help = did_you_mean(name, scope.params, "the parameters") or f"{where} has no parameter '{name}'"
            raise e
        return scope.params[name][0]

    def repeat_count(self, item: Node, scope: Scope) -> int | None:
        node = item.value.get("repeat")
        if node is None:
            return 1
        try:
            n = self.scalar(node, scope)
        except _Reported:
            return None
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            self.error(node.span, f"repeat must be a whole number ≥ 0, got {n!r}", scope=scope)
            return None
        if n > MAX_REPEAT:
            self.error(node.span, f"repeat count {n:,} is too large", "too many copies",
                       f"at most {MAX_REPEAT:,} copies; a spec may expand to at most {MAX_LAYERS:,} layers", scope)
            return None
        return n

    # ------------------------------------------------------------ blocks
    def block_call(self, item: Node, scope: Scope, path: str, refs, prev) -> str | None:
        name = self.scalar(item.value["block"], scope)
        body = self.blocks[name]
        params = self.bind(name, body, item, scope)
        if params is None:
            return None
        self.groups.setdefault(path, name)
        self.claim(path, item.value.get("name", item.value["block"]).span, scope)
        inner = scope.nested(path, params=params, calls=scope.calls + ((name, item.value["block"].span),))
        start = prev
        if refs is not None:
            if len(refs) != 1:
                self.error(item.value["inputs"].span, f"a block call takes one input, got {len(refs)}",
                           help="pass one layer name; wire the others inside the block", scope=scope)
                return None
            start = refs[0]
        return self.items(body.value["layers"], inner, start)

    def bind(self, name: str, body: Node, call: Node, scope: Scope) -> dict | None:
        declared = body.value.get("params")
        declared = declared.value if declared is not None else {}
        args = {k: v for k, v in call.value.items() if k not in ITEM_KEYS}
        ok = True
        for key in args:
            if key not in declared:
                hint = did_you_mean(key, declared, "its parameters") or (
                    f"block '{name}' takes no parameters" if not declared else "")
                self.error(call.key_span(key), f"block '{name}' has no parameter '{key}'", "unknown parameter",
                           hint, scope)
                ok = False
        bound: dict[str, tuple[Any, Span]] = {}
        inner = Scope(prefix=scope.prefix, params=bound, calls=scope.calls + ((name, call.span),))
        for key, default in declared.items():
            try:
                if key in args:
                    bound[key] = (self.value(args[key], scope), args[key].span)
                elif default.value == "required":
                    self.error(call.span, f"block '{name}' needs parameter '{key}'", f"missing `{key}`",
                               f"add `{key}: …` to the call", scope)
                    ok = False
                else:
                    bound[key] = (self.value(default, inner), default.span)
            except _Reported:
                ok = False
        return bound if ok else None

    # ------------------------------------------------------------ residual and parallel
    def region(self, form: str, item: Node, scope: Scope, path: str, refs, prev, named: bool) -> str | None:
        body = item.value[form]
        allowed = ("layers", "shortcut") if form == "residual" else ("branches", "merge", "split", "axis")
        for key in body.value:
            if key not in allowed:
                self.error(body.key_span(key), f"unknown key '{key}' in `{form}:`", "",
                           did_you_mean(key, allowed, "the keys"), scope)
        start = prev
        if refs is not None:
            if len(refs) != 1:
                self.error(item.value["inputs"].span, f"`{form}:` takes one input, got {len(refs)}", scope=scope)
                return None
            start = refs[0]
        merge = "add" if form == "residual" else self.choice(body.value.get("merge"), ("concat", "add", "multiply"), "concat")
        if named:
            self.groups[path] = form
            inner = scope.nested(path)
        else:
            region = f"{scope.prefix}#{scope.auto_name('#' + form)[1:]}"
            self.regions[region] = form
            inner = scope.within(region)
        merge_name = path if named else scope.full(scope.auto_name(merge))
        span = item.key_span(form)
        if form == "residual":
            return self.residual(body, inner, start, merge_name, span)
        return self.parallel(body, inner, start, merge, merge_name, span)

    def residual(self, body: Node, scope: Scope, start: str, merge_name: str, span: Span) -> str | None:
        layers = body.value.get("layers")
        if layers is None:
            self.error(body.span, "`residual:` needs `layers:`", help="the layers of f in f(x) + x", scope=scope)
            return None
        mode = self.choice(body.value.get("shortcut"), ("auto", "identity", "projection"), "auto")
        out = self.items(layers, scope, start)
        if out is None:
            return None
        name, i = "downsample", 1
        while scope.full(name) in self.names:
            name, i = f"downsample{i}", i + 1
        # an identity shortcut is a layer too until shapes are known: it checks that they match,
        # then `without_identity_shortcuts` removes it from the graph
        shortcut = self.internal("shortcut", scope.full(name), [start, out], span, scope, mode=mode)
        return self.internal("add", merge_name, [out, shortcut], span, scope)

    def parallel(self, body: Node, scope: Scope, start: str, merge: str, merge_name: str, span: Span) -> str | None:
        branches = body.value.get("branches")
        if branches is None or not branches.is_list or not branches.value:
            self.error(body.span, "`parallel:` needs `branches:`, a list of layer lists",
                       help="e.g. `branches: [[{type: conv2d, ...}], []]` ([] is the identity)", scope=scope)
            return None
        split = body.value.get("split")
        if split is not None and not isinstance(split.value, bool):
            self.error(split.span, "`split:` must be true or false", scope=scope)
            split = None
        outs = []
        for i, branch in enumerate(branches.value):
            source = start
            if split is not None and split.value:
                source = self.internal("split", scope.full(scope.auto_name("split")), [start], span, scope,
                                       parts=len(branches.value), index=i, axis=0)
            outs.append(self.items(branch, scope, source))
        if any(o is None for o in outs):
            return None
        attrs = {}
        if merge == "concat":
            axis = body.value.get("axis")
            attrs["axis"] = axis.value if axis is not None and isinstance(axis.value, int) else 0
        if len(outs) == 1:
            return outs[0]
        return self.internal(merge, merge_name, outs, span, scope, **attrs)


class _Reported(Exception):
    """A value's error has been recorded; the caller skips the value."""


def layer_name(value: Any) -> str | None:
    """A `name:` as a string, or None if it is not one (PyTorch numbers children: 0 is fine)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value) if LAYER_NAME.fullmatch(str(value)) else None


def _stem(path: str) -> str:
    base = path.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base
