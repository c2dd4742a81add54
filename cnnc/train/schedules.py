"""Learning-rate schedules: the rate for an epoch (0-based) given the base rate."""
from __future__ import annotations

from math import cos, pi


def constant(lr: float, epoch: int, epochs: int, **_) -> float:
    return lr


def step(lr: float, epoch: int, epochs: int, *, step_size: int = 10, gamma: float = 0.1, **_) -> float:
    return lr * gamma ** (epoch // step_size)


def cosine(lr: float, epoch: int, epochs: int, *, min_lr: float = 0.0, **_) -> float:
    return min_lr + (lr - min_lr) * (1 + cos(pi * epoch / max(epochs, 1))) / 2


SCHEDULES = {"constant": constant, "step": step, "cosine": cosine}
