"""Activations against their formulas and finite differences."""
import numpy as np

from cnnc.runtime.reference import activation as ref

from ..gradcheck import check_op


def test_relu_forward_and_gradient():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    y = check_op(ref.relu_fwd, ref.relu_bwd, [x], [], {})
    np.testing.assert_array_equal(y, np.maximum(x, 0))
