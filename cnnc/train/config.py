"""Training settings: defaults, then the spec's `train:` section, then command-line flags."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

from ..spec.errors import SpecError, SpecErrors, did_you_mean
from ..spec.load import Node
from .losses import LOSSES
from .optimizers import OPTIMIZERS
from .schedules import SCHEDULES


@dataclass(frozen=True)
class TrainConfig:
    data: str = "digits"
    epochs: int = 10
    batch: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9          # SGD
    nesterov: bool = False         # SGD
    l1: float = 0.0
    l2: float = 0.0
    schedule: str = "constant"
    step_size: int = 10            # step schedule: epochs between decays
    gamma: float = 0.1             # step schedule: decay factor
    clip: float = 0.0              # global gradient-norm limit; 0 = none
    loss: str = "cross_entropy"
    patience: int = 0              # early stopping: epochs without a better validation; 0 = never
    seed: int = 0

    def with_overrides(self, **given) -> "TrainConfig":
        return replace(self, **{k: v for k, v in given.items() if v is not None})


CHOICES = {"optimizer": tuple(OPTIMIZERS), "schedule": tuple(SCHEDULES), "loss": tuple(LOSSES)}
POSITIVE = {"epochs", "batch", "lr", "step_size"}


def from_spec(section: Node | None) -> TrainConfig:
    """The spec's `train:` section over the defaults; located errors for anything wrong."""
    config = TrainConfig()
    if section is None:
        return config
    if not section.is_map:
        raise SpecErrors([SpecError(section.span, "`train:` must be a mapping of training settings",
                                    help="e.g. `train: {epochs: 20, optimizer: sgd, lr: 0.05}`")])
    types = {f.name: f.type for f in fields(TrainConfig)}
    errors, values = [], {}
    for key, node in section.value.items():
        problem = _check(key, node.value, types)
        if problem:
            message, help = problem
            span = section.key_span(key) if key not in types else node.span
            errors.append(SpecError(span, f"train: {message}", help=help))
        else:
            values[key] = float(node.value) if types[key] == "float" else node.value
    if errors:
        raise SpecErrors(errors)
    return replace(config, **values)


def _check(key: str, value, types: dict) -> tuple[str, str] | None:
    if key not in types:
        return f"unknown setting '{key}'", did_you_mean(key, types, "the settings") or ", ".join(types)
    kind = types[key]
    ok = {"int": isinstance(value, int) and not isinstance(value, bool),
          "float": isinstance(value, (int, float)) and not isinstance(value, bool),
          "bool": isinstance(value, bool), "str": isinstance(value, str)}[kind]
    if not ok:
        return f"'{key}' must be {'a whole number' if kind == 'int' else 'a number' if kind == 'float' else kind}, got {value!r}", ""
    if key in CHOICES and value not in CHOICES[key]:
        return f"'{value}' is not a {key}", did_you_mean(value, CHOICES[key], f"the {key}s")
    if key in POSITIVE and value <= 0 or (kind in ("int", "float") and value < 0):
        return f"'{key}' must be {'positive' if key in POSITIVE else 'at least 0'}, got {value}", ""
    return None
