"""Shape inference: every tensor typed, in topological order; errors placed at their attribute."""
from __future__ import annotations

from ..graph import Graph
from ..shape import Shape
from ..spec.errors import Diagnostics, LayerError, SpecError
from ..spec.expand import LayerDecl


def infer_shapes(graph: Graph, diagnostics: Diagnostics) -> dict[str, Shape]:
    """Shapes of every input and every layer that could be checked. A layer after a broken one
    is skipped without a message of its own: it would only repeat the first error."""
    shapes = {inp.name: inp.shape for inp in graph.inputs}
    seen = set()                 # sugar may repeat one mistake in several layers: report it once
    for name in graph.order:
        decl = graph.decl(name)
        if decl.layer is None or any(t not in shapes for t in decl.inputs):
            continue
        try:
            shapes[name] = decl.layer.infer_shape(*(shapes[t] for t in decl.inputs))
        except LayerError as e:
            error = located(decl, e)
            if (error.span, e.message) not in seen:
                diagnostics.add(error)
            seen.add((error.span, e.message))
    return shapes


def located(decl: LayerDecl, e: LayerError) -> SpecError:
    """A layer's complaint, placed at the attribute it names (or the layer) in the spec."""
    joiner = " " if e.message.startswith("needs ") else ": "
    span = decl.attr_spans.get(e.attr, decl.span) if e.attr else decl.span
    return SpecError(span, f"layer '{decl.name}' ({decl.kind}){joiner}{e.message}", help=e.help,
                     notes=decl.notes, layer=decl.name)
