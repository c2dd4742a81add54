"""Graph convolution (Kipf & Welling 2017) with a sparse normalised adjacency: Numba kernels.

Same semantics as runtime/reference/graph.py: Y = Â (X Wᵀ) + b, Â = D^−½ (A + I) D^−½ with PyG's
self-loops (a missing one becomes 1, an existing one keeps its weight), D the row sums of A + I.

Each forward turns the batch's dense adjacencies (N, V, V) into one block-diagonal CSR matrix
over all N·V nodes (a node of item n has column indices n·V + j), so the whole batch is

    XW = X Wᵀ                       one GEMM over all N·V nodes (numpy)
    Y  = Â XW + b                   one CSR × dense kernel, prange over rows

and backward is Âᵀ dY (the saved CSR transposed by a counting sort, O(nnz): symmetry is not
assumed), then dW = (Âᵀ dY)ᵀ X, dX = (Âᵀ dY) W, db = Σ dY. The adjacency gets no gradient.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

ZERO, ONE = np.float32(0), np.float32(1)


@njit(parallel=True, cache=True, fastmath=True)
def _normalized_csr(adj):
    """CSR (indptr, indices, data) of the block-diagonal Â of adj (N, V, V)."""
    n, v, _ = adj.shape
    inv_sqrt = np.zeros((n, v), adj.dtype)
    counts = np.zeros(n * v + 1, np.int64)
    for row in prange(n * v):
        b, i = row // v, row % v
        degree = 0.0                                   # float64: exact for 0/1 graphs
        entries = 0
        for j in range(v):                             # branch-free
            a = adj[b, i, j]
            degree += a
            entries += a != ZERO
        if adj[b, i, i] == ZERO:                       # a missing self-loop becomes 1
            degree += 1.0
            entries += 1
        if degree > 0.0:
            inv_sqrt[b, i] = 1.0 / np.sqrt(degree)     # zero degree (negative weights): 0, as PyG
        counts[row + 1] = entries
    indptr = counts                                    # prefix sums, in place
    for row in range(n * v):
        indptr[row + 1] += indptr[row]
    indices = np.empty(indptr[-1], np.int64)
    data = np.empty(indptr[-1], adj.dtype)
    for row in prange(n * v):
        b, i = row // v, row % v
        scale, line = inv_sqrt[b], adj[b, i]
        k = _fill(line, 0, i, b * v, scale[i], scale, indices, data, indptr[row])
        indices[k] = row                               # the self-loop, in column order
        data[k] = scale[i] * (line[i] if line[i] != ZERO else ONE) * scale[i]
        _fill(line, i + 1, v, b * v, scale[i], scale, indices, data, k + 1)
    return indptr, indices, data


@njit(cache=True, fastmath=True)
def _fill(line, start, stop, offset, row_scale, scale, indices, data, k):
    """The nonzeros of line[start:stop] (one row of one graph) from position k on: column
    offset + j, value row_scale·a·scale[j]. Returns the next position."""
    for j in range(start, stop):
        a = line[j]
        if a != ZERO:
            indices[k] = offset + j
            data[k] = row_scale * a * scale[j]
            k += 1
    return k


@njit(cache=True)
def _csr_transpose(indptr, indices, data):
    """The transpose of a square CSR matrix, in CSR (a counting sort by column)."""
    rows = len(indptr) - 1
    t_indptr = np.zeros(rows + 1, np.int64)
    for k in range(len(indices)):
        t_indptr[indices[k] + 1] += 1
    for row in range(rows):
        t_indptr[row + 1] += t_indptr[row]
    fill = t_indptr[:-1].copy()
    t_indices = np.empty_like(indices)
    t_data = np.empty_like(data)
    for row in range(rows):
        for k in range(indptr[row], indptr[row + 1]):
            col = indices[k]
            t_indices[fill[col]] = row
            t_data[fill[col]] = data[k]
            fill[col] += 1
    return t_indptr, t_indices, t_data


@njit(parallel=True, cache=True, fastmath=True)
def _csr_matmul(indptr, indices, data, dense, bias, out):
    """out = CSR @ dense + bias, one output row per iteration."""
    for row in prange(out.shape[0]):
        for o in range(out.shape[1]):
            out[row, o] = bias[o]
        for k in range(indptr[row], indptr[row + 1]):
            a, col = data[k], indices[k]
            for o in range(out.shape[1]):
                out[row, o] += a * dense[col, o]


def gcn_conv_fwd(xs, ps, attrs, ctx):
    x, adj = xs
    weight, bias = ps
    n, v, features = x.shape
    x = np.ascontiguousarray(x)
    weight = np.asarray(weight, x.dtype)
    xw = np.dot(x.reshape(n * v, features), weight.T)
    b = np.zeros(len(weight), x.dtype) if bias is None else np.asarray(bias, x.dtype)
    y = np.empty_like(xw)
    a_hat = _normalized_csr(np.ascontiguousarray(adj, x.dtype))
    _csr_matmul(*a_hat, xw, b, y)
    return y.reshape(n, v, -1), (x, a_hat, weight, bias is not None)


def gcn_conv_bwd(saved, dy, attrs):
    x, a_hat, weight, has_bias = saved
    n, v, features = x.shape
    dy = np.ascontiguousarray(dy, x.dtype).reshape(n * v, -1)
    dxw = np.empty_like(dy)                                       # gradient of X Wᵀ
    _csr_matmul(*_csr_transpose(*a_hat), dy, np.zeros(dy.shape[1], x.dtype), dxw)
    dweight = np.dot(dxw.T, x.reshape(n * v, features))
    dbias = dy.sum(axis=0) if has_bias else None
    return [np.dot(dxw, weight).reshape(x.shape), None], [dweight, dbias]
