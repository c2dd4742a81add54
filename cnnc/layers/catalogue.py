"""The layer catalogue as text: `cnnc layers` and docs/layers.md read the same schemas."""
from __future__ import annotations

from . import FAMILIES, LAYERS
from .base import REQUIRED, Attr


def public_kinds() -> list[str]:
    return [k for k, c in LAYERS.items() if not c.internal]


def _default(spec: Attr) -> str:
    if spec.default is REQUIRED:
        return "required"
    if spec.default is None:
        return "—"
    if isinstance(spec.default, bool):
        return str(spec.default).lower()
    if isinstance(spec.default, tuple):
        return str(list(spec.default)) if len(set(spec.default)) > 1 else str(spec.default[0])
    return str(spec.default)


def _doc(cls) -> str:
    return " ".join((cls.__doc__ or "").split())


def by_family() -> list[tuple[str, list[str]]]:
    kinds = public_kinds()
    return [(f, [k for k in kinds if LAYERS[k].family == f]) for f in FAMILIES
            if any(LAYERS[k].family == f for k in kinds)]


def text(kinds: list[str] | None = None) -> str:
    out = []
    for family, members in by_family():
        for kind in members:
            if kinds and kind not in kinds:
                continue
            cls = LAYERS[kind]
            out.append(f"{kind}  [{family}]  {_doc(cls)}")
            for name, spec in cls.schema.items():
                doc = f"  {spec.doc}" if spec.doc else ""
                out.append(f"    {name}: {spec.describe_type()} = {_default(spec)}{doc}")
            if not cls.schema:
                out.append("    (no attributes)")
            out.append("")
    return "\n".join(out).rstrip()


def markdown() -> str:
    lines = ["# Layer catalogue", "",
             "Generated from the layer schemas by `cnnc layers --format markdown`; do not edit by hand.",
             "Shapes are without the batch axis. Every layer also takes `name:`, `inputs:` and `repeat:`.", ""]
    for family, members in by_family():
        lines += [f"## {family}", ""]
        for kind in members:
            cls = LAYERS[kind]
            lines += [f"### `{kind}`", "", _doc(cls), ""]
            if cls.schema:
                lines += ["| attribute | type | default | meaning |", "|---|---|---|---|"]
                for name, spec in cls.schema.items():
                    lines.append(f"| `{name}` | {spec.describe_type().replace('|', '&#124;')} | "
                                 f"{_default(spec)} | {spec.doc} |")
            else:
                lines.append("No attributes.")
            lines.append("")
    return "\n".join(lines)
