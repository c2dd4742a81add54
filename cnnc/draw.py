"""Graphviz rendering of an analysed spec: clusters for blocks and regions, families in colour.

`diagram(analysis, …)` builds the dot text from the same graph IR and analyses that
`cnnc compile` reports (never a second parse); `render` turns it into svg/png/pdf with the
system `dot`. The same spec always gives the same dot text, byte for byte.
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

import graphviz

from .analysis.report import si
from .compiler import Analysis
from .layers import LAYERS

DETAILS = ("kinds", "attrs", "shapes", "full")
FORMATS = ("svg", "png", "pdf", "dot")
FONT = "Helvetica"

# Fill colours by layer family (colour-blind-safe-ish pastels), and the legend's order.
FAMILY_COLOURS = {
    "conv": "#9ecae1", "pool": "#fdd49e", "norm": "#dadaeb", "activation": "#fee0d2",
    "merge": "#c7e9c0", "dense": "#fdae6b", "recurrent": "#fbe17b", "graph": "#a1d99b",
    "spatial": "#f4a6b7", "core": "#e0e0e0", "block": "#f7f7f7",
}
ERROR_FILL, ERROR_LINE = "#ffd6d6", "#d62728"
REGION_STYLES = {"residual": ("dashed", "#3182bd"), "parallel": ("dashed", "#31a354"),
                 "repeat": ("solid", "#636363"), "block": ("rounded", "#969696")}


@dataclass
class Node:
    """One box of the diagram: a layer, or (with --collapse) a run of identical block copies."""
    id: str
    label: str
    family: str
    regions: tuple[str, ...]
    error: str | None = None
    members: list[str] = field(default_factory=list)
    copies: int = 1                     # > 1: a folded run of identical block copies


def diagram(a: Analysis, detail: str = "attrs", rankdir: str = "TB", collapse: bool = False) -> str:
    """The dot text for an analysis (valid or not: a broken layer is drawn red with its error)."""
    errors = _errors_by_layer(a)
    nodes, node_of = _nodes(a, detail, errors, collapse)
    g = graphviz.Digraph(a.name, graph_attr={"rankdir": rankdir, "fontname": FONT, "newrank": "true",
                                             "label": _title(a), "labelloc": "t", "fontsize": "16"},
                         node_attr={"fontname": FONT, "fontsize": "10", "shape": "box",
                                    "style": "rounded,filled"},
                         edge_attr={"fontname": FONT, "fontsize": "9", "color": "#555555"})
    for inp in a.graph.inputs:
        g.node(inp.name, f"{inp.name}\n{inp.shape}", shape="parallelogram", style="filled,bold",
               fillcolor="white")
    _clusters(g, a, nodes)
    _edges(g, a, node_of, detail)
    _outputs(g, a, node_of)
    g.node("(legend)", _legend(nodes, errors), shape="plaintext", style="")
    return g.source


def render(dot_text: str, fmt: str) -> bytes:
    """svg/png/pdf bytes from dot text via the system `dot` (graphviz.ExecutableNotFound if absent)."""
    if fmt == "dot":
        return dot_text.encode()
    return graphviz.Source(dot_text).pipe(format=fmt)


# ---------------------------------------------------------------- nodes
def _errors_by_layer(a: Analysis) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in a.diagnostics.errors:
        if e.layer and e.layer not in out:
            out[e.layer] = re.sub(r"^layer '[^']*' \([^)]*\)(: )?", "", e.message)
    return out


def _drawable(a: Analysis, errors: dict[str, str]) -> list[str]:
    """Every checked layer, and the broken ones; what lies past a broken layer was not checked."""
    return [n for n in a.graph.order if n in a.shapes or n in errors]


def _nodes(a: Analysis, detail: str, errors: dict[str, str], collapse: bool):
    folds = _folds(a) if collapse else {}
    nodes: dict[str, Node] = {}
    node_of: dict[str, str] = {}
    for name in _drawable(a, errors):
        decl = a.graph.decl(name)
        fold = folds.get(name)
        if fold is None:
            nodes[name] = Node(name, _label(a, name, detail, errors.get(name)), _family(decl.kind),
                               decl.regions, errors.get(name), [name])
            node_of[name] = name
            continue
        node_id, group, count, block = fold
        if node_id not in nodes:
            upto = decl.regions[:decl.regions.index(group) + 1]
            nodes[node_id] = Node(node_id, "", "block", upto, copies=count)
        nodes[node_id].members.append(name)
        if name in errors:
            nodes[node_id].error = errors[name]
        node_of[name] = node_id
    for node in nodes.values():
        if not node.label:
            node.label = _fold_label(a, node, folds[node.members[0]], detail)
    return nodes, node_of


def _family(kind: str) -> str:
    return LAYERS[kind].family if kind in LAYERS else "core"


def _label(a: Analysis, name: str, detail: str, error: str | None) -> str:
    decl = a.graph.decl(name)
    short = _short_name(a, name)
    head = [short] if detail != "kinds" and short != decl.kind else []
    lines = head + _pack([decl.kind] + (_attrs(decl.layer) if detail != "kinds" else []))
    if detail in ("shapes", "full") and name in a.params and a.params[name]:
        lines.append(f"{sum(p.numel for p in a.params[name]):,} params")
    if detail == "full" and name in a.shapes:
        size, stride, _ = a.fields[name].describe()
        lines.append(f"{si(a.macs[name])} MACs · RF {size}" + (f" /{stride}" if stride else ""))
    if error:
        lines += textwrap.wrap(f"error: {error}", 40)
    return "\n".join(lines)


def _short_name(a: Analysis, name: str) -> str:
    """The name inside its innermost block or named region (the cluster says the rest)."""
    groups = a.graph.spec.groups
    decl = a.graph.decl(name)
    owner = next((g for g in reversed(decl.groups) if "×" not in groups.get(g, "×")), None)
    return name[len(owner) + 1:] if owner and name.startswith(owner + ".") else name


def _pack(parts: list[str], width: int = 34) -> list[str]:
    """Join `kind`, `filters 64`, `kernel 3` … into lines of about `width`, breaking between parts."""
    lines = [parts[0]]
    for part in parts[1:]:
        joiner = " " if len(lines) == 1 and lines[0] == parts[0] else ", "
        if len(lines[-1]) + len(joiner) + len(part) > width:
            lines[-1] += "," if joiner == ", " else ""
            lines.append(part)
        else:
            lines[-1] += joiner + part
    return lines


def _attrs(layer) -> list[str]:
    """The attributes that differ from their defaults, compactly: `filters 64`, `kernel 3×3`."""
    if layer is None:
        return []
    parts = []
    for key, spec in layer.schema.items():
        value = getattr(layer, key)
        if value != spec.default and key != "name":
            parts.append(f"{key} {_value(value)}")
    return parts


def _value(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "×".join(map(str, value)) if len(set(value)) > 1 else str(value[0])
    return str(value)


# ---------------------------------------------------------------- collapse
def _folds(a: Analysis) -> dict[str, tuple[str, str, int, str]]:
    """layer → (fold node id, repeat group, copies in the run, block) for every layer inside a
    repeated item: each run of identical consecutive copies becomes one node marked ×N."""
    spec = a.graph.spec
    repeats = {g for g, label in spec.groups.items() if "×" in label}
    copies: dict[str, dict[str, list[str]]] = {}
    for name in a.graph.order:
        decl = a.graph.decl(name)
        group = next((g for g in decl.groups if g in repeats), None)
        if group is not None:
            copy = f"{group}.{name[len(group) + 1:].split('.')[0]}"
            copies.setdefault(group, {}).setdefault(copy, []).append(name)
    folds = {}
    for group, members in copies.items():
        block = spec.groups[group].split(" ×")[0]
        runs: list[list[str]] = []
        for copy, layers in members.items():
            if runs and _signature(a, runs[-1][0], members[runs[-1][0]]) == _signature(a, copy, layers):
                runs[-1].append(copy)
            else:
                runs.append([copy])
        for run in runs:
            node_id = f"{run[0]}×{len(run)}"
            for copy in run:
                for layer in members[copy]:
                    folds[layer] = (node_id, group, len(run), block)
    return folds


def _signature(a: Analysis, copy: str, layers: list[str]) -> tuple:
    """What makes two copies the same: kinds, attributes, shapes and wiring, names relative."""
    def local(name: str) -> str:
        return name[len(copy):] if name.startswith(copy + ".") or name == copy else "<outside>"
    def same(n: str) -> tuple:
        decl = a.graph.decl(n)
        return (local(n), decl.kind, decl.layer.attrs() if decl.layer else None, tuple(a.shapes.get(n, ())),
                tuple(map(local, decl.inputs)))
    return tuple(map(same, layers))


def _fold_label(a: Analysis, node: Node, fold, detail: str) -> str:
    _, group, count, block = fold
    first, last = node.members[0], node.members[-1]
    k0 = first[len(group) + 1:].split(".")[0]
    k1 = last[len(group) + 1:].split(".")[0]
    lines = [f"{group}.{k0}" + (f"–{k1}" if k1 != k0 else ""), block + (f" ×{count}" if count > 1 else "")]
    if detail in ("shapes", "full"):
        lines.append(f"{sum(p.numel for m in node.members for p in a.params.get(m, [])):,} params")
    if detail == "full":
        lines.append(f"{si(sum(a.macs.get(m, 0) for m in node.members))} MACs")
    if node.error:
        lines += textwrap.wrap(f"error: {node.error}", 40)
    return "\n".join(lines)


# ---------------------------------------------------------------- clusters, edges, outputs
def _clusters(g: graphviz.Digraph, a: Analysis, nodes: dict[str, Node]) -> None:
    """Nest each node in the clusters of its regions (blocks, repeats, residual, parallel)."""
    tree: dict = {"nodes": [], "children": {}}
    for node in nodes.values():
        here = tree
        for region in node.regions:
            here = here["children"].setdefault(region, {"nodes": [], "children": {}})
        here["nodes"].append(node)
    counter = iter(range(1_000_000))
    _emit(g, tree, a.graph.spec.regions, counter)


def _emit(g, tree: dict, labels: dict[str, str], counter) -> None:
    for node in tree["nodes"]:
        fill = ERROR_FILL if node.error else FAMILY_COLOURS.get(node.family, "#ffffff")
        extra = {"color": ERROR_LINE, "penwidth": "2.5", "fontcolor": ERROR_LINE} if node.error else {}
        if node.copies > 1:
            extra["peripheries"] = "2"
        g.node(node.id, node.label, fillcolor=fill, tooltip=node.members[0] if node.members else node.id, **extra)
    for region, sub in tree["children"].items():
        label = labels.get(region, "")
        style, colour = REGION_STYLES.get(label) or REGION_STYLES["repeat" if "×" in label else "block"]
        title = label if "#" in region else f"{region} · {label}"
        with g.subgraph(name=f"cluster_{next(counter)}") as c:
            c.attr(label=title, style=style, color=colour, fontcolor=colour, fontsize="10",
                   labeljust="l")
            _emit(c, sub, labels, counter)


def _edges(g: graphviz.Digraph, a: Analysis, node_of: dict[str, str], detail: str) -> None:
    seen = set()
    for name in a.graph.order:
        if name not in node_of:
            continue
        for src in a.graph.data_inputs(name) if a.graph.decl(name).layer else a.graph.decl(name).inputs:
            tail = node_of.get(src, src if a.graph.g.nodes.get(src, {}).get("input") else None)
            head = node_of[name]
            if tail is None or tail == head or (tail, head) in seen:
                continue
            seen.add((tail, head))
            shape = a.shapes.get(src)
            label = str(shape) if detail in ("shapes", "full") and shape is not None else None
            g.edge(tail, head, label=label)


def _outputs(g: graphviz.Digraph, a: Analysis, node_of: dict[str, str]) -> None:
    outputs = [o for o in a.graph.outputs if o in a.shapes and o in node_of]
    for i, name in enumerate(outputs):
        out = f"output{i}" if len(outputs) > 1 else "output"
        g.node(f"({out})", f"{out}\n{a.shapes[name]}", shape="parallelogram", style="filled,bold",
               fillcolor="white")
        g.edge(node_of[name], f"({out})")


def _title(a: Analysis) -> str:
    t = a.totals()
    if not a.ok:
        return f"{a.name} (with errors)"
    return f"{a.name}: {t['trainable_params']:,} params, {si(t['macs'])} MACs"


def _legend(nodes: dict[str, Node], errors: dict[str, str]) -> str:
    used = [f for f in FAMILY_COLOURS if any(n.family == f and not n.error for n in nodes.values())]
    rows = "".join(f'<tr><td bgcolor="{FAMILY_COLOURS[f]}">  </td><td align="left">{f}</td></tr>' for f in used)
    if errors:
        rows += f'<tr><td bgcolor="{ERROR_FILL}">  </td><td align="left">error</td></tr>'
    return f'<<table border="0" cellborder="1" cellspacing="2"><tr><td colspan="2"><b>legend</b></td></tr>{rows}</table>>'
