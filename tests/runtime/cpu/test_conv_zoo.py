"""Every convolution shape class the zoo compiles to (kernel size, stride, dilation; one-channel,
dense, depthwise), forward and backward against the reference, on small images: each class's
generated kernels (forward, every stride phase of grad input, grad weight) at least once.
The classes are read from specs/, so a new spec brings its own."""
import glob
from pathlib import Path

import numpy as np
import pytest

from cnnc.compiler import analyse
from cnnc.passes import lower

from .test_conv import check_conv, hwio, normal, oihw

ROOT = Path(__file__).resolve().parents[3]


def zoo_classes() -> dict:
    """{(kernel, stride, dilation, kind): (a spec that has it, its padding)}."""
    out = {}
    for path in sorted(glob.glob(str(ROOT / "specs" / "*.yaml"))):
        program = lower(analyse(path), training=True)
        for step in program.primitive_steps():
            if step.op != "conv2d":
                continue
            o, cg, kh, kw = program.params[step.params[0]].shape
            c = program.tensors[step.inputs[0]][0]
            a = step.attrs
            kind = "depthwise" if cg == 1 and a["groups"] > 1 else "one channel" if c == 1 else "dense"
            out.setdefault(((kh, kw), tuple(a["stride"]), tuple(a["dilation"]), kind),
                           (Path(path).name, a["padding"]))
    return out


CLASSES = zoo_classes()


@pytest.mark.parametrize("key", CLASSES, ids=[f"{k[3]} {k[0][0]}x{k[0][1]} s{k[1][0]} ({CLASSES[k][0]})"
                                              for k in CLASSES])
def test_zoo_convolution_class_matches_reference(key):
    (kh, kw), stride, dilation, kind = key
    padding = CLASSES[key][1]
    c, o, groups = {"depthwise": (4, 4, 4), "one channel": (1, 16, 1), "dense": (8, 16, 1)}[kind]
    size = max(9, (kh - 1) * dilation[0] + 2 * stride[0] + 1)
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    check_conv("conv2d", normal(2, c, size, size + 1), normal(o, c // groups, kh, kw), normal(o), attrs,
               hwio, oihw)


def test_the_zoo_has_the_classes_the_issue_names():
    kernels = {k[0] for k in CLASSES}
    assert {(1, 1), (3, 3), (5, 5), (7, 7), (11, 11)} <= kernels
    assert {(1, 1), (2, 2), (4, 4)} <= {k[1] for k in CLASSES}
    assert "depthwise" in {k[3] for k in CLASSES}
