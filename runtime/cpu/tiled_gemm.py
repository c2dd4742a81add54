"""float32 GEMM from one generated, register-tiled kernel: the matrix products of the recurrent ops.

The kernel computes a tile of 4 rows × 64 columns of C = A·B with its 256 accumulators in
registers: for each k it loads 64 values of a row of B, broadcasts 4 values of A and does 256
multiply-adds. Written out as scalars (generated source), LLVM's SLP vectoriser packs them into
16 AVX-512 registers of 16 lanes: 150-170 GFLOP/s on one core here, against ~100 for numpy's
OpenBLAS (pinned to AVX2).

Two compile settings make that code:
- `numba.config.SLP_VECTORIZE` (off by default), set in the generated module (runtime/cpu/
  generated.py) for this kernel only;
- 512-bit vectors on Intel cores too: runtime/cpu/target.py's `-prefer-256-bit` (in 256-bit
  vectors the tile needs 32 accumulators, more than there are registers: 2.5x slower).

Operands (float32, C-contiguous):
- B in panels: (N/64, K, 64), panel p holding columns 64p … 64p+63 (`panels`). A tile then
  streams one contiguous panel; rows of a plain (K, N) matrix 2 KiB apart all fall into a few L1
  sets, and the products over long K ran at half the speed (74 against 135 GFLOP/s);
- A is flat, addressed per block of `block` k: element (r, k) at
  a0 + (k // block)·kb + r·rs + (k % block)·ks. The rows of a matrix are rs = its width, ks = 1,
  kb = block; its columns (Aᵀ, for Xᵀ·Y without a transposed copy) rs = 1, ks = its width,
  kb = block·ks; a matrix held in panels itself (the recurrent ops' gate gradients) rs = 64,
  ks = 1, block = 64, kb = the panel size. `block` = DEPTH_BLOCK unless A is in panels;
- C: the (M, N/64, 64) view of a (M, N) matrix (`as_tiles`).
Rows are taken four at a time: A must have the rows up to M rounded up to 4 (`round_up`), and
C's rows beyond M receive garbage.

The generated module is imported on first use (`ready`), not with this one. Numba's cache does
not see an edit here in the kernels elsewhere that call these (recurrent.py): touch those files
after one, or clear the cache.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import njit, prange
from numba.extending import overload

from .generated import Kernel, module

ROWS, WIDTH = 4, 64                   # the register tile: 4 rows of A × 64 columns of B
DEPTH_BLOCK = 128                     # k per pass: a 128 × 64 slice of a panel (32 KiB) stays in L1
ROW_CHUNK = 64                        # rows of C per parallel work item


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def as_tiles(matrix: np.ndarray) -> np.ndarray:
    """The (rows, N/64, 64) view the kernels take of a C-contiguous (rows, N) matrix as C."""
    rows, cols = matrix.shape
    return matrix.reshape(rows, cols // WIDTH, WIDTH)


def panels(matrix: np.ndarray) -> np.ndarray:
    """A (K, N) matrix as B: (N/64, K, 64), columns zero-padded to a multiple of 64."""
    k, n = matrix.shape
    padded = matrix
    if n % WIDTH:
        padded = np.zeros((k, round_up(n, WIDTH)), np.float32)
        padded[:, :n] = matrix
    return np.ascontiguousarray(padded.reshape(k, padded.shape[1] // WIDTH, WIDTH).transpose(1, 0, 2), np.float32)


# ---------------------------------------------------------------- the generated kernel
_SIGNATURE = ("void(float32[::1], int64, int64, int64, float32[:, ::1], int64, float32[:, :, ::1], "
              "int64, int64, boolean)")


def _tile_body() -> str:
    """tile(a, a0, rs, ks, b, depth, c, r0, t, accumulate): c[r0 + r, t, :] (+)= Σ_k a[a0 + r·rs + k·ks]
    · b[k, :] over k < depth, r < 4; b: one panel of B from its first row needed on. The SLP
    vectoriser is fragile (an offset k0 + k in the loop, or b indexed b[k, j] 64 times, left the
    loop scalar): after any change here, look for vfmadd231ps on zmm registers in its code."""
    acc = [[f"s{r}_{j}" for j in range(WIDTH)] for r in range(ROWS)]
    body = [f"    {' = '.join(row)} = np.float32(0)" for row in acc]
    body += [f"    p{r} = a0 + {r} * rs" for r in range(ROWS)]
    body += ["    for k in range(depth):", "        row = b[k]"]
    body += [f"        w{j} = row[{j}]" for j in range(WIDTH)]
    for r in range(ROWS):
        body.append(f"        x{r} = a[p{r} + k * ks]")
        body += [f"        {acc[r][j]} += x{r} * w{j}" for j in range(WIDTH)]
    for op, test in (("+=", "if accumulate:"), ("=", "else:")):
        body.append(f"    {test}")
        body += [f"        c[r0 + {r}, t, {j}] {op} {acc[r][j]}" for r in range(ROWS) for j in range(WIDTH)]
    return "\n".join([
        "", "",
        f'@njit("{_SIGNATURE}", fastmath={{"contract"}}, cache=True)',
        "def tile(a, a0, rs, ks, b, depth, c, r0, t, accumulate):",
        *body, ""])


TILE = Kernel(f"tile_{ROWS}x{WIDTH}", f"tiled_gemm's {ROWS} x {WIDTH} register tile", _tile_body())


@functools.cache
def ready():
    """Import the generated tile, compiling it the first time on a machine (13 s; a load from
    Numba's cache after, 20 ms). Call it before running jitted code that calls `tile`: when Numba
    loads such code from its cache, it looks the tile's module up by name. Done on first use, so
    a network without recurrent layers pays nothing for it."""
    return module(TILE)


def tile(a, a0, rs, ks, b, depth, c, r0, t, accumulate):
    """The generated kernel, for jitted code (`_tile` resolves it there)."""
    raise TypeError("tiled_gemm.tile runs only inside jitted code")


@overload(tile, inline="always")
def _tile(a, a0, rs, ks, b, depth, c, r0, t, accumulate):
    """Called when a kernel calling `tile` compiles. Inlined, so the caller calls the generated
    kernel itself: through a wrapper of its own, the tile ran 25% slower."""
    kernel = ready().tile
    return lambda a, a0, rs, ks, b, depth, c, r0, t, accumulate: kernel(a, a0, rs, ks, b, depth, c, r0, t, accumulate)


# ---------------------------------------------------------------- GEMMs built from the tile
@njit(fastmath=True, cache=True)
def _tiles(a, a0, rs, ks, kb, block, depth, b, b0, c, t, lo, hi, accumulate):
    """Rows lo ≤ r < hi (multiples of 4) of column tile t of C (+)= A·B, B from row b0 of its
    panels, one k-block at a time (depth 0: one pass that writes zeros)."""
    for k0 in range(0, max(depth, 1), block):
        a_block = a0 + k0 // block * kb
        for r0 in range(lo, hi, ROWS):
            tile(a, a_block + r0 * rs, rs, ks, b[t, b0 + k0:], min(block, depth - k0), c, r0, t,
                 accumulate or k0 > 0)


@njit(fastmath=True, cache=True)
def gemm_rows(a, a0, rs, ks, kb, block, depth, b, b0, c, lo, hi, accumulate):
    """c[lo:hi] (+)= A·B for rows lo ≤ r < hi (multiples of 4), every column tile, B from row b0
    of its panels, on the calling thread (from inside a prange). Operand forms as in the module doc."""
    for t in range(b.shape[0]):
        _tiles(a, a0, rs, ks, kb, block, depth, b, b0, c, t, lo, hi, accumulate)


def gemm(a, rs, ks, kb, block, rows, depth, b, b0, c):
    """c[:rows] = A·B over k < depth, B from row b0 of its panels; every core, one column tile ×
    ROW_CHUNK rows per work item."""
    ready()
    _gemm(a, rs, ks, kb, block, rows, depth, b, b0, c)


@njit(parallel=True, fastmath=True, cache=True)
def _gemm(a, rs, ks, kb, block, rows, depth, b, b0, c):
    tiles = b.shape[0]
    chunks = (rows + ROW_CHUNK - 1) // ROW_CHUNK
    top = (rows + ROWS - 1) // ROWS * ROWS
    for item in prange(tiles * chunks):
        t, chunk = item % tiles, item // tiles
        lo = chunk * ROW_CHUNK
        _tiles(a, 0, rs, ks, kb, block, depth, b, b0, c, t, lo, min(lo + ROW_CHUNK, top), False)
