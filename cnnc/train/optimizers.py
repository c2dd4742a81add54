"""Optimizers and regularisation, updating float32 parameters in place.

Each optimizer keeps its state in plain arrays named after the parameters, so a checkpoint
can store it and a resumed run continues exactly.
"""
from __future__ import annotations

import numpy as np


class Optimizer:
    def __init__(self, lr: float, *, l1: float = 0.0, l2: float = 0.0, clip: float | None = None) -> None:
        self.lr, self.l1, self.l2, self.clip = lr, l1, l2, clip
        self.state: dict[str, np.ndarray] = {}
        self.steps = 0

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        grads = clip_by_global_norm(grads, self.clip) if self.clip else grads
        self.steps += 1
        for name, g in grads.items():
            w = params[name]
            if self.l2:
                g = g + self.l2 * w
            if self.l1:
                g = g + self.l1 * np.sign(w)
            w -= self.update(name, g.astype(w.dtype, copy=False)).astype(w.dtype, copy=False)

    def slot(self, key: str, like: np.ndarray) -> np.ndarray:
        if key not in self.state:
            self.state[key] = np.zeros_like(like)
        return self.state[key]

    def update(self, name: str, g: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class SGD(Optimizer):
    def __init__(self, lr, *, momentum: float = 0.0, nesterov: bool = False, **rest) -> None:
        super().__init__(lr, **rest)
        self.momentum, self.nesterov = momentum, nesterov

    def update(self, name, g):
        if not self.momentum:
            return self.lr * g
        v = self.slot(f"{name}/velocity", g)
        v *= self.momentum
        v += g                                       # PyTorch's form: v = μv + g
        return self.lr * (g + self.momentum * v if self.nesterov else v)


class RMSProp(Optimizer):
    def __init__(self, lr, *, rho: float = 0.9, eps: float = 1e-7, **rest) -> None:
        super().__init__(lr, **rest)
        self.rho, self.eps = rho, eps

    def update(self, name, g):
        s = self.slot(f"{name}/square_avg", g)
        s *= self.rho
        s += (1 - self.rho) * g * g
        return self.lr * g / (np.sqrt(s) + self.eps)


class Adam(Optimizer):
    def __init__(self, lr, *, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, **rest) -> None:
        super().__init__(lr, **rest)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def update(self, name, g):
        m, v = self.slot(f"{name}/exp_avg", g), self.slot(f"{name}/exp_avg_sq", g)
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * g * g
        m_hat = m / (1 - self.beta1 ** self.steps)
        v_hat = v / (1 - self.beta2 ** self.steps)
        return self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


OPTIMIZERS = {"sgd": SGD, "rmsprop": RMSProp, "adam": Adam}


def clip_by_global_norm(grads: dict[str, np.ndarray], limit: float) -> dict[str, np.ndarray]:
    norm = float(np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads.values())))
    if norm <= limit:
        return grads
    return {k: g * (limit / norm) for k, g in grads.items()}
