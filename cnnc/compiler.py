"""The front end as one call: load → expand → build → infer, each pass a verb, in order."""
from __future__ import annotations

from dataclasses import dataclass, field

from .analysis.flops import count_macs
from .analysis.memory import activation_bytes, param_bytes
from .analysis.params import count_params
from .analysis.rf import receptive_fields
from .analysis.shapes import infer_shapes
from .graph import Graph, build_graph, without_identity_shortcuts
from .layers.base import Param
from .shape import Shape
from .spec.errors import Diagnostics, SpecError, SpecErrors
from .spec.expand import expand
from .spec.load import Node, load, load_text


@dataclass
class Analysis:
    graph: Graph
    shapes: dict[str, Shape]
    params: dict[str, list[Param]]
    macs: dict[str, int]
    fields: dict
    diagnostics: Diagnostics = field(default_factory=Diagnostics)

    @property
    def name(self) -> str:
        return self.graph.spec.name

    @property
    def ok(self) -> bool:
        return not self.diagnostics.errors

    @property
    def layers(self) -> list[str]:
        return list(self.graph.order)

    @property
    def output_shape(self) -> Shape:
        outputs = self.graph.outputs
        return self.shapes[outputs[-1]]

    def totals(self, batch: int = 1) -> dict[str, int]:
        every = [p for ps in self.params.values() for p in ps]
        trainable = sum(p.numel for p in every if p.trainable)
        total = sum(p.numel for p in every)
        return {"params": total, "trainable_params": trainable, "non_trainable_params": total - trainable,
                "macs": batch * sum(self.macs.values()),
                "activation_bytes": batch * activation_bytes(self.graph, self.shapes),
                "param_bytes": param_bytes(self.params)}


def analyse(source: str | Node, *, input_shapes: dict[str, tuple] | None = None) -> Analysis:
    """Everything `cnnc compile` knows about a spec. Raises SpecErrors only when the spec
    cannot be read at all; otherwise errors are in `.diagnostics` and the analysis covers
    every layer that could be checked (what `cnnc draw` needs to draw a broken spec)."""
    root = load(source) if isinstance(source, str) else source
    diagnostics = Diagnostics()
    spec = expand(root, diagnostics)
    override_inputs(spec, input_shapes or {}, diagnostics)
    graph = build_graph(spec, diagnostics)
    shapes = infer_shapes(graph, diagnostics)
    graph = without_identity_shortcuts(graph, shapes)
    params = count_params(graph, shapes)
    macs = count_macs(graph, shapes)
    fields = receptive_fields(graph, shapes, diagnostics)
    return Analysis(graph, shapes, params, macs, fields, diagnostics)


def check(source: str | Node, **options) -> Analysis:
    """`analyse`, raising SpecErrors (with any warnings) if the spec has errors."""
    result = analyse(source, **options)
    result.diagnostics.raise_if_any()
    return result


def analyse_text(text: str, path: str = "<string>", **options) -> Analysis:
    return check(load_text(text, path), **options)


def override_inputs(spec, shapes: dict[str, tuple], diagnostics: Diagnostics) -> None:
    """`--input-shape`: replace the shapes the spec declares."""
    by_name = {inp.name: inp for inp in spec.inputs}
    for name, dims in shapes.items():
        if name not in by_name:
            raise SpecErrors([SpecError(None, f"--input-shape names '{name}', but the spec's inputs are "
                                              f"{', '.join(by_name) or 'none'}")])
        inp = by_name[name]
        inp.shape = Shape(*dims, dtype=inp.shape.dtype)
