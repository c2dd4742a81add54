"""Optimizers, losses, schedules and initialisers against their formulas."""
import numpy as np
import pytest

from cnnc.train import losses, schedules
from cnnc.train.optimizers import SGD, Adam, RMSProp, clip_by_global_norm


def run(opt, steps=3, w0=1.0, g=0.5):
    w = {"w": np.array([w0], np.float32)}
    for _ in range(steps):
        opt.step(w, {"w": np.array([g], np.float32)})
    return float(w["w"][0])


def test_sgd_momentum_follows_pytorch():
    # v1 = g, v2 = 0.9 g + g, v3 = 0.9 v2 + g; w -= lr v each step
    v1, v2, v3 = 0.5, 0.95, 1.355
    assert run(SGD(0.1, momentum=0.9)) == pytest.approx(1 - 0.1 * (v1 + v2 + v3), rel=1e-6)


def test_nesterov_looks_ahead():
    v1, v2 = 0.5, 0.95
    expected = 1 - 0.1 * ((0.5 + 0.9 * v1) + (0.5 + 0.9 * v2))
    assert run(SGD(0.1, momentum=0.9, nesterov=True), steps=2) == pytest.approx(expected, rel=1e-6)


def test_adam_first_step_moves_by_lr():
    assert run(Adam(0.01), steps=1) == pytest.approx(1 - 0.01, rel=1e-5)


def test_rmsprop_step():
    s = 0.1 * 0.25
    assert run(RMSProp(0.01, rho=0.9), steps=1) == pytest.approx(1 - 0.01 * 0.5 / (np.sqrt(s) + 1e-7), rel=1e-5)


def test_l2_and_l1_regularisation_add_to_the_gradient():
    assert run(SGD(0.1, l2=0.1, momentum=0), steps=1, g=0.0) == pytest.approx(1 - 0.1 * 0.1)
    assert run(SGD(0.1, l1=0.1, momentum=0), steps=1, g=0.0, w0=-2.0) == pytest.approx(-2 + 0.01)


def test_clipping_scales_the_global_norm():
    grads = {"a": np.array([3.0]), "b": np.array([4.0])}
    clipped = clip_by_global_norm(grads, 1.0)
    assert np.hypot(clipped["a"][0], clipped["b"][0]) == pytest.approx(1.0)
    assert clip_by_global_norm(grads, 10.0) is grads


def test_schedules():
    assert schedules.step(0.1, 25, 30, step_size=10, gamma=0.1) == pytest.approx(0.001)
    assert schedules.cosine(0.1, 0, 10) == pytest.approx(0.1)
    assert schedules.cosine(0.1, 5, 10) == pytest.approx(0.05)


@pytest.mark.parametrize("loss,make", [
    ("softmax_cross_entropy", lambda r: (r.standard_normal((4, 5)), r.integers(0, 5, 4))),
    ("binary_cross_entropy", lambda r: (r.uniform(0.1, 0.9, (4, 3)), r.integers(0, 2, (4, 3)).astype(float))),
    ("mean_squared_error", lambda r: (r.standard_normal((4, 3)), r.standard_normal((4, 3)))),
])
def test_loss_gradients_match_finite_differences(loss, make):
    fn = getattr(losses, loss)
    out, target = make(np.random.default_rng(0))
    _, grad, _ = fn(out, target)
    numeric = np.zeros_like(out)
    for i in np.ndindex(out.shape):
        up, down = out.copy(), out.copy()
        up[i] += 1e-6
        down[i] -= 1e-6
        numeric[i] = (fn(up, target)[0] - fn(down, target)[0]) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_masked_cross_entropy_counts_only_masked_nodes():
    logits = np.zeros((1, 4, 2))
    labels = np.zeros((1, 4), int)
    mask = np.array([[True, False, False, True]])
    loss, grad, _ = losses.softmax_cross_entropy(logits, labels, mask)
    assert loss == pytest.approx(np.log(2))
    assert not grad[0, 1].any() and grad[0, 0, 0] == pytest.approx(-0.25)
