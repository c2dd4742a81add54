"""The graph IR: a networkx.DiGraph with one node per input and per layer; edges are tensors.

An edge marked `shape_only` carries no data: the residual shortcut reads the body's output
shape through it to choose identity or projection.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import networkx as nx

from .spec.errors import Diagnostics, SpecError
from .spec.expand import InputDecl, LayerDecl, Spec


@dataclass
class Graph:
    spec: Spec
    g: nx.DiGraph
    order: list[str]                 # layers in a topological order that keeps the spec's order

    @property
    def inputs(self) -> list[InputDecl]:
        return self.spec.inputs

    def decl(self, name: str) -> LayerDecl:
        return self.g.nodes[name]["decl"]

    def is_input(self, name: str) -> bool:
        return self.g.nodes[name]["input"] is not None

    def input_decl(self, name: str) -> InputDecl:
        return self.g.nodes[name]["input"]

    def data_inputs(self, name: str) -> list[str]:
        decl = self.decl(name)
        shape_only = decl.layer.shape_only if decl.layer else ()
        return [t for i, t in enumerate(decl.inputs) if i not in shape_only]

    @property
    def outputs(self) -> list[str]:
        """Layers whose output no other layer reads."""
        used = {t for n in self.order for t in self.decl(n).inputs}
        return [n for n in self.order if n not in used]


def build_graph(spec: Spec, diagnostics: Diagnostics) -> Graph:
    g = nx.DiGraph()
    for inp in spec.inputs:
        g.add_node(inp.name, input=inp, decl=None)
    position = {}
    for index, decl in enumerate(spec.layers):
        g.add_node(decl.name, input=None, decl=decl)
        position[decl.name] = index
        _check_arity(decl, diagnostics)
    for decl in spec.layers:
        shape_only = decl.layer.shape_only if decl.layer else ()
        for i, src in enumerate(decl.inputs):
            if src in g:
                g.add_edge(src, decl.name, shape_only=i in shape_only)
    _break_cycles(g, spec, diagnostics)
    order = [n for n in nx.lexicographical_topological_sort(g, key=lambda n: position.get(n, -1))
             if g.nodes[n]["decl"] is not None]
    return Graph(spec, g, order)


def _check_arity(decl: LayerDecl, diagnostics: Diagnostics) -> None:
    if decl.layer is None:
        return
    low, high = decl.layer.arity
    n = len(decl.inputs)
    if low <= n and (high is None or n <= high):
        return
    want = (f"{low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}")
    help = ("list them with `inputs: [a, b]`" if low > 1 else
            "a layer reads one tensor; merge several with add, concat or multiply")
    span = decl.attr_spans.get("inputs", decl.span)
    diagnostics.add(SpecError(span, f"layer '{decl.name}' ({decl.kind}) takes {want} input{'s' if want != '1' else ''}, "
                              f"got {n}", help=help, notes=decl.notes, layer=decl.name))
    decl.layer = None


def _break_cycles(g: nx.DiGraph, spec: Spec, diagnostics: Diagnostics) -> None:
    """Report each cycle once and cut it, so the rest of the spec can still be checked."""
    while True:
        try:
            cycle = nx.find_cycle(g)
        except nx.NetworkXNoCycle:
            return
        names = [u for u, _ in cycle]
        first = g.nodes[names[0]]["decl"]
        path = " → ".join(names + [names[0]])
        diagnostics.add(SpecError(first.attr_spans.get("inputs", first.span),
                                  f"layers form a cycle: {path}", "part of a cycle",
                                  "a network is a DAG: a layer may only read layers that do not read it",
                                  notes=first.notes, layer=first.name))
        for name in names:
            g.nodes[name]["decl"].layer = None
        g.remove_edge(*cycle[-1][:2])


def without_identity_shortcuts(graph: Graph, shapes: dict) -> Graph:
    """`shortcut: auto` resolved to the identity is no layer at all: drop it, read its input."""
    identity = {}
    for name in graph.order:
        decl = graph.decl(name)
        if decl.kind == "shortcut" and name in shapes:
            x, like = (shapes[t] for t in decl.inputs)
            if not decl.layer.projects(x, like):
                identity[name] = decl.inputs[0]
    if not identity:
        return graph
    layers = [replace(d, inputs=[identity.get(t, t) for t in d.inputs])
              for d in graph.spec.layers if d.name not in identity]
    return build_graph(replace(graph.spec, layers=layers), Diagnostics())
