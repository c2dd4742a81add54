"""Generated kernels: each shape class its own file in the kernel cache, named by a hash of
its source, so a stale kernel is never reused; built ahead of time with progress."""
import numpy as np
import pytest

from cnnc.runtime.cpu import conv, conv_source, generated, winograd
from cnnc.runtime.cpu.generated import Kernel

TRIVIAL = '''
@njit("void(float32[::1])", cache=True)
def kernel(x):
    for i in range(x.shape[0]):
        x[i] += np.float32({k})
'''


@pytest.fixture
def kernel_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNC_KERNEL_DIR", str(tmp_path))
    return tmp_path


def test_every_key_part_changes_the_file():
    base = dict(geometry=conv_source.Geometry(3, 3), cot=16, pixels=8)
    variants = [dict(base, geometry=conv_source.Geometry(5, 5)), dict(base, geometry=conv_source.Geometry(3, 3, 2, 2)),
                dict(base, geometry=conv_source.Geometry(3, 3, 1, 1, 2, 2)), dict(base, cot=32),
                dict(base, pixels=4), dict(base, grouped=True), dict(base, residual=True), dict(base, activation="relu")]
    stems = {conv_source.forward(**v).stem for v in [base, *variants]}
    assert len(stems) == 1 + len(variants)
    assert conv_source.forward(**base).stem == conv_source.forward(**base).stem


def test_every_key_part_changes_the_winograd_files():
    forwards = [dict(cot=16, pixels=16), dict(cot=32, pixels=8), dict(cot=16, pixels=8),
                dict(cot=16, pixels=16, residual=True), dict(cot=16, pixels=16, activation="relu")]
    gradients = [(16, 8), (32, 8), (32, 4)]
    stems = {winograd.forward(**f).stem for f in forwards} | {winograd.weight_grad(*g).stem for g in gradients}
    assert len(stems) == len(forwards) + len(gradients)


def test_every_key_part_changes_the_one_pass_input_gradient_file():
    keys = [((2, 2), 16, 16, 32), ((2, 1), 16, 16, 32), ((2, 2), 32, 16, 32), ((2, 2), 16, 8, 32), ((2, 2), 16, 16, 64)]
    assert len({conv_source.transposed(*key).stem for key in keys}) == len(keys)


def test_the_file_name_is_a_hash_of_the_source_and_the_generator_version(monkeypatch):
    a, b = Kernel("k", "test", TRIVIAL.format(k=1)), Kernel("k", "test", TRIVIAL.format(k=2))
    assert a.stem != b.stem
    monkeypatch.setattr(generated, "VERSION", generated.VERSION + "+1")
    assert Kernel("k", "test", TRIVIAL.format(k=1)).stem != a.stem


def test_a_kernel_is_written_compiled_and_then_loaded(kernel_dir):
    kernel = Kernel("trivial", "a test kernel", TRIVIAL.format(k=3))
    assert not generated.is_built(kernel)
    x = np.zeros(4, np.float32)
    generated.module(kernel).kernel(x)
    np.testing.assert_array_equal(x, 3)
    source = (kernel_dir / f"{kernel.stem}.py").read_text()
    assert "SLP_VECTORIZE = 1" in source and "a test kernel" in source
    assert generated.is_built(kernel) and (kernel_dir / f"{kernel.stem}.built").exists()


def test_prepare_reports_what_it_compiles_and_compiles_it_once(kernel_dir, monkeypatch):
    seen = []
    generated.report_compiling(lambda k, n: seen.append((k, n)))
    monkeypatch.setattr(generated.os, "cpu_count", lambda: 1)      # in this process: quick
    try:
        kernels = [Kernel("trivial", "test", TRIVIAL.format(k=k)) for k in (10, 11)]
        assert generated.prepare(kernels + kernels[:1]) == 2
        assert seen == [(0, 2), (1, 2), (2, 2)]
        assert generated.prepare(kernels) == 0
    finally:
        generated.report_compiling(None)


@pytest.mark.parametrize("channels", [4, 16], ids=["grad input by phases", "grad input in one pass"])
def test_conv_lists_the_kernels_it_runs(kernel_dir, channels):
    """What `cnnc build` prepares is what the run asks for: after kernels_for's list is built,
    running the convolution (forward and backward) compiles nothing new."""
    x_shape, w_shape, stride, pads = (2, 6, 5, channels), (3, 3, channels, 8), (2, 2), ((1, 1), (1, 1))
    assert conv.takes_one_pass(x_shape, w_shape, stride, pads, (1, 1), 1) == (channels == 16)
    listed = conv.kernels_for(x_shape, w_shape, stride, pads, (1, 1), 1, training=True)
    generated.prepare(listed)
    files = set(kernel_dir.glob("*.py"))
    x, w = np.ones(x_shape, np.float32), np.ones(w_shape, np.float32)
    y = conv.conv_forward(x, w, None, stride, pads, (1, 1), 1)
    conv.conv_backward(x, w, np.ones_like(y), stride, pads, (1, 1), 1)
    assert set(kernel_dir.glob("*.py")) == files
