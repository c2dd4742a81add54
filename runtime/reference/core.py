"""Core ops: dense, dropout, flatten, reshape, embedding, split, channel shuffle.

Also `array_axis`, the one place an `axis` attribute (counting the non-batch axes) becomes
an array axis; activation and merge use it too.
"""
from __future__ import annotations

import numpy as np


def array_axis(axis: int, ndim: int) -> int:
    """The array axis of an `axis` attribute: 0 is the first axis after the batch (channels),
    −1 the last."""
    rank = ndim - 1
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} is out of range for {rank} non-batch axes")
    return axis % rank + 1


# ---------------------------------------------------------------- dense
def dense_fwd(xs, ps, attrs, ctx):
    x, = xs
    weight, bias = ps
    y = x @ weight.T
    return (y if bias is None else y + bias), (x, weight, bias is not None)


def dense_bwd(saved, dy, attrs):
    x, weight, has_bias = saved
    dbias = dy.sum(axis=0) if has_bias else None
    return [dy @ weight], [dy.T @ x, dbias]


# ---------------------------------------------------------------- dropout
def dropout_fwd(xs, ps, attrs, ctx):
    x, = xs
    if not ctx.train:
        return x, (None,)
    rate = attrs["rate"]
    keep = ctx.rng.random(x.shape) >= rate          # true with probability 1 − rate
    mask = keep.astype(x.dtype) / (1 - rate)        # so the expected value is unchanged
    return x * mask, (mask,)


def dropout_bwd(saved, dy, attrs):
    mask, = saved
    return [dy if mask is None else dy * mask], []


# ---------------------------------------------------------------- flatten, reshape
def flatten_fwd(xs, ps, attrs, ctx):
    x, = xs
    return x.reshape(len(x), -1), (x.shape,)


def flatten_bwd(saved, dy, attrs):
    shape, = saved
    return [dy.reshape(shape)], []


def reshape_fwd(xs, ps, attrs, ctx):
    x, = xs
    return x.reshape(len(x), *attrs["shape"]), (x.shape,)


reshape_bwd = flatten_bwd


# ---------------------------------------------------------------- embedding
def check_tokens(tokens, vocab: int) -> None:
    if not np.issubdtype(tokens.dtype, np.integer):
        raise TypeError(f"embedding needs integer token ids, got {tokens.dtype}")
    bad = tokens[(tokens < 0) | (tokens >= vocab)]
    if bad.size:
        raise ValueError(f"embedding: token id {bad[0]} is out of range for vocab size {vocab} "
                         f"(ids must be 0 … {vocab - 1})")


def embedding_fwd(xs, ps, attrs, ctx):
    tokens, = xs
    weight, = ps
    check_tokens(tokens, len(weight))
    return weight[tokens], (tokens, weight.shape)


def embedding_bwd(saved, dy, attrs):
    tokens, weight_shape = saved
    dweight = np.zeros(weight_shape, dy.dtype)
    np.add.at(dweight, tokens, dy)                  # a repeated token gathers every use
    return [None], [dweight]


# ---------------------------------------------------------------- split, channel shuffle
def split_fwd(xs, ps, attrs, ctx):
    x, = xs
    axis = array_axis(attrs["axis"], x.ndim)
    return np.split(x, attrs["parts"], axis=axis)[attrs["index"]], ()


def split_bwd(saved, dy, attrs):
    # the other parts did not reach the output: their gradient is zero
    parts = [np.zeros_like(dy) for _ in range(attrs["parts"])]
    parts[attrs["index"]] = dy
    return [np.concatenate(parts, axis=array_axis(attrs["axis"], dy.ndim))], []


def shuffle_channels(x, groups: int):
    """View the channels as (groups, C/groups), transpose to (C/groups, groups), flatten."""
    n, c, *rest = x.shape
    if c % groups:
        raise ValueError(f"channel_shuffle: groups={groups} must divide the {c} channels")
    return x.reshape(n, groups, c // groups, *rest).swapaxes(1, 2).reshape(x.shape)


def channel_shuffle_fwd(xs, ps, attrs, ctx):
    x, = xs
    return shuffle_channels(x, attrs["groups"]), ()


def channel_shuffle_bwd(saved, dy, attrs):
    # a transpose is undone by the transpose back: the shuffle with C/groups groups
    return [shuffle_channels(dy, dy.shape[1] // attrs["groups"])], []
