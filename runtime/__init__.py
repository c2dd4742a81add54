"""cnnc.runtime: kernels and the executor that run a lowered Program (see DESIGN.md).

Packaged from the top-level runtime/ folder. The CPU (Numba) and CUDA backends land with
the runtime issues; the compiler front end (`cnnc compile`, `cnnc layers`) never imports it.
"""
