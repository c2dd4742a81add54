"""Receptive fields of small stacks, checked by hand with r += (k'−1)·j, s += ((k'−1)/2 − p)·j, j *= t."""
import pytest

from cnnc.analysis.rf import Global, Spatial
from cnnc.compiler import analyse


def last_field(layers: str, input_shape="[1, 32, 32]"):
    from cnnc.spec.load import load_text
    a = analyse(load_text(f"input: {input_shape}\nlayers:\n{layers}"))
    assert a.ok, a.diagnostics.items
    return a, a.fields[a.layers[-1]]


def test_dilated_stack_grows_exponentially():
    _, rf = last_field("""
  - {type: conv2d, filters: 1, kernel: 3, padding: same}
  - {type: conv2d, filters: 1, kernel: 3, padding: same, dilation: 2}
  - {type: conv2d, filters: 1, kernel: 3, padding: same, dilation: 4}
""")
    assert rf == Spatial((15, 15), (1, 1), (0, 0))


def test_strided_stack_multiplies_the_jump():
    _, rf = last_field("""
  - {type: conv2d, filters: 1, kernel: 3, stride: 2, padding: 1}
  - {type: conv2d, filters: 1, kernel: 3, stride: 2, padding: 1}
""")
    assert rf == Spatial((7, 7), (4, 4), (0, 0))


def test_valid_padding_moves_the_start():
    _, rf = last_field("""
  - {type: conv2d, filters: 1, kernel: 3}
  - {type: conv2d, filters: 1, kernel: 3}
  - {type: maxpool2d, kernel: 2}
""")
    assert rf == Spatial((6, 6), (2, 2), (2.5, 2.5))


def test_per_axis_kernels():
    _, rf = last_field("  - {type: conv2d, filters: 1, kernel: [1, 7], padding: [0, 3]}")
    assert rf == Spatial((1, 7), (1, 1), (0, 0))


def test_branches_report_the_widest_aligned_field():
    a, rf = last_field("""
  - parallel:
      branches:
        - [{type: conv2d, filters: 1, kernel: 1}]
        - [{type: conv2d, filters: 1, kernel: 5, padding: 2}]
        - [{type: conv2d, filters: 1, kernel: 3, padding: 1}, {type: conv2d, filters: 1, kernel: 3, padding: 1}]
""")
    assert rf == Spatial((5, 5), (1, 1), (0, 0)) and rf.aligned
    assert not a.diagnostics.warnings


def test_misaligned_merge_is_flagged():
    from cnnc.spec.load import load_text
    a = analyse(load_text("""
input: [1, 32, 32]
layers:
  - parallel:
      branches:
        - [{type: conv2d, filters: 1, kernel: 2, stride: 2}]
        - [{type: conv2d, filters: 1, kernel: 3, stride: 2, padding: 1}]
"""))
    rf = a.fields["concat0"]
    assert not rf.aligned and rf.to_json()["aligned"] is False
    [warning] = a.diagnostics.warnings
    assert "not aligned" in warning.message


@pytest.mark.parametrize("layer", ["{type: flatten}", "{type: global_avgpool}", "{type: spp, levels: [1, 2]}"])
def test_layers_that_see_everything_are_global(layer):
    _, rf = last_field(f"  - {layer}")
    assert rf == Global() and rf.to_json() == "global"


def test_vgg16_fields_match_the_published_figures():
    from pathlib import Path
    a = analyse(str(Path(__file__).parents[2] / "specs" / "vgg16.yaml"))
    convs = [n for n in a.layers if a.graph.decl(n).kind == "conv2d"]
    pools = [n for n in a.layers if a.graph.decl(n).kind == "maxpool2d"]
    assert (a.fields[convs[-1]].size, a.fields[convs[-1]].stride) == ((196, 196), (16, 16))
    assert (a.fields[pools[-1]].size, a.fields[pools[-1]].stride) == ((212, 212), (32, 32))
