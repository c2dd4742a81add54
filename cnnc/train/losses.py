"""Losses: value and gradient with respect to the network output, averaged over the batch.

A network that ends in softmax is trained on its logits (the executor stops before the final
softmax) with a log-softmax cross-entropy: the stable, standard form.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-7


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray, mask: np.ndarray | None = None):
    """logits (N, …, K) with class axis last; labels int (N, …). Returns (loss, dlogits, probs)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    probs = np.exp(log_probs)
    picked = np.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
    weight = _weights(labels.shape, mask)
    loss = -float((picked * weight).sum())
    grad = probs.copy()
    np.put_along_axis(grad, labels[..., None], np.take_along_axis(grad, labels[..., None], -1) - 1, axis=-1)
    return loss, (grad * weight[..., None]).astype(logits.dtype), probs


def binary_cross_entropy(probs: np.ndarray, targets: np.ndarray, mask=None):
    """For a sigmoid output: targets in {0, 1}, same shape as probs."""
    p = np.clip(probs, EPS, 1 - EPS)
    weight = _weights(targets.shape, mask)
    loss = -float(((targets * np.log(p) + (1 - targets) * np.log(1 - p)) * weight).sum())
    grad = (p - targets) / (p * (1 - p)) * weight
    return loss, grad.astype(probs.dtype), probs


def mean_squared_error(outputs: np.ndarray, targets: np.ndarray, mask=None):
    weight = _weights(targets.shape, mask)
    diff = outputs - targets
    return float((diff ** 2 * weight).sum()), (2 * diff * weight).astype(outputs.dtype), outputs


def _weights(shape, mask) -> np.ndarray:
    """1 / (number of counted examples) for counted ones, 0 for masked-out ones."""
    w = np.ones(shape) if mask is None else np.broadcast_to(mask, shape).astype(float)
    return w / max(w.sum(), 1)


LOSSES = {"cross_entropy": softmax_cross_entropy, "binary_cross_entropy": binary_cross_entropy,
          "mse": mean_squared_error}
