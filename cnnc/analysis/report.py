"""The analysis as rows and totals, rendered as a terminal table, JSON or Markdown.

The data (`rows`, `as_json`) is kept apart from the renderers; `--format json` is a stable
contract other tools read.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from ..compiler import Analysis
from .rf import RF


@dataclass
class Row:
    name: str
    kind: str
    inputs: list[str]
    shape: tuple
    params: int
    trainable: int
    macs: int
    field: RF
    block: str | None


def rows(a: Analysis, depth: int | None = None) -> list[Row]:
    """One row per layer; with `depth`, layers nested deeper than `depth` groups (block calls,
    repeats, named regions) fold into one row per group, like torchinfo's depth."""
    out: list[Row] = []
    for name in a.graph.order:
        decl = a.graph.decl(name)
        ps = a.params[name]
        row = Row(name, decl.kind, list(decl.inputs), tuple(a.shapes[name]),
                  sum(p.numel for p in ps), sum(p.numel for p in ps if p.trainable), a.macs[name],
                  a.fields[name], decl.groups[-1] if decl.groups else None)
        group = decl.groups[depth - 1] if depth is not None and len(decl.groups) >= depth else None
        if group is None:
            out.append(row)
        elif out and out[-1].name == group:
            last = out[-1]
            last.shape, last.field = row.shape, row.field
            last.params += row.params
            last.trainable += row.trainable
            last.macs += row.macs
        else:
            kind = a.graph.spec.groups.get(group, "group")
            parent = decl.groups[depth - 2] if depth >= 2 else None
            out.append(Row(group, kind, row.inputs, row.shape, row.params, row.trainable, row.macs,
                           row.field, parent))
    return out


def as_json(a: Analysis, batch: int = 1, depth: int | None = None) -> dict:
    return {
        "name": a.name,
        "input_shapes": {inp.name: list(inp.shape) for inp in a.graph.inputs},
        "layers": [{"name": r.name, "kind": r.kind, "inputs": r.inputs, "output_shape": list(r.shape),
                    "params": r.params, "trainable_params": r.trainable, "macs": r.macs * batch,
                    "receptive_field": r.field.to_json(), "block": r.block} for r in rows(a, depth)],
        "totals": a.totals(batch),
    }


def render(a: Analysis, fmt: str = "table", batch: int = 1, depth: int | None = None) -> str:
    return RENDERERS[fmt](a, batch, depth)


# ---------------------------------------------------------------- renderers
HEADERS = ("layer", "kind", "output", "params", "MACs", "RF", "stride", "start")
RIGHT = {"params", "MACs"}


def _cells(a: Analysis, batch: int, depth: int | None) -> list[tuple[str, ...]]:
    return [(r.name, r.kind, "×".join(map(str, r.shape)), f"{r.params:,}", si(r.macs * batch),
             *r.field.describe()) for r in rows(a, depth)]


def table(a: Analysis, batch: int = 1, depth: int | None = None) -> str:
    cells = _cells(a, batch, depth)
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(HEADERS)]

    def line(values):
        return "  ".join(v.rjust(w) if h in RIGHT else v.ljust(w)
                         for v, w, h in zip(values, widths, HEADERS)).rstrip()

    rule = "─" * len(line(HEADERS))
    body = [line(HEADERS), rule, *map(line, cells), rule]
    return "\n".join(body + summary(a, batch))


def markdown(a: Analysis, batch: int = 1, depth: int | None = None) -> str:
    cells = _cells(a, batch, depth)
    align = ["---:" if h in RIGHT else "---" for h in HEADERS]
    lines = [f"## {a.name}", "", "| " + " | ".join(HEADERS) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
    return "\n".join(lines + [""] + [f"- {s.strip()}" for s in summary(a, batch)])


def json_text(a: Analysis, batch: int = 1, depth: int | None = None) -> str:
    return json.dumps(as_json(a, batch, depth), indent=2)


RENDERERS = {"table": table, "json": json_text, "markdown": markdown}


def summary(a: Analysis, batch: int) -> list[str]:
    t = a.totals(batch)
    per = "per sample" if batch == 1 else f"for a batch of {batch}"
    inputs = ", ".join(f"{i.name} {i.shape}" if i.name != "input" else str(i.shape) for i in a.graph.inputs)
    outputs = ", ".join(str(a.shapes[o]) for o in a.graph.outputs)
    return [f"{a.name}: {len(a.graph.order)} layers, input{'s' if len(a.graph.inputs) > 1 else ''} {inputs} "
            f"→ output {outputs}",
            f"params: {t['params']:,} (trainable {t['trainable_params']:,}, "
            f"non-trainable {t['non_trainable_params']:,}), {mib(t['param_bytes'])}",
            f"MACs: {si(t['macs'])} {per}",
            f"activations: {mib(t['activation_bytes'])} {per} (every layer output kept)"]


def si(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def mib(n: int) -> str:
    return f"{n / 2 ** 20:.2f} MiB"
