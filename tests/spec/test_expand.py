"""The spec language: blocks, repeat, residual/parallel sugar, defaults, names, several inputs."""
import pytest

from cnnc.compiler import analyse_text
from cnnc.spec.errors import SpecErrors


def spec(text: str):
    return analyse_text(text)


def kinds(a):
    return [(n, a.graph.decl(n).kind) for n in a.layers]


def test_sequential_list_chains_layers():
    a = spec("""
        input: [3, 8, 8]
        layers: [{type: conv2d, filters: 4, kernel: 3}, {type: relu}, {type: flatten}]
    """)
    assert kinds(a) == [("conv2d0", "conv2d"), ("relu0", "relu"), ("flatten0", "flatten")]
    assert a.graph.decl("relu0").inputs == ["conv2d0"]


def test_block_parameters_defaults_and_expressions():
    a = spec("""
        input: [3, 8, 8]
        blocks:
          wide:
            params: {width: required, factor: 2, out: $width * $factor + 1}
            layers: [{type: conv2d, filters: $out, kernel: 1}]
        layers:
          - {block: wide, width: 3}
          - {block: wide, width: 3, factor: 1}
    """)
    assert a.shapes["wide0.conv2d0"] == (7, 8, 8)
    assert a.shapes["wide1.conv2d0"] == (4, 8, 8)


def test_repeat_names_copies_and_first_overrides_copy_zero():
    a = spec("""
        input: [4, 16, 16]
        layers:
          - {name: down, type: conv2d, filters: 4, kernel: 3, padding: 1, repeat: 3, first: {stride: 2}}
    """)
    assert a.layers == ["down.0", "down.1", "down.2"]
    assert [a.shapes[n] for n in a.layers] == [(4, 8, 8)] * 3


def test_repeat_zero_yields_nothing():
    a = spec("""
        input: [8]
        layers: [{type: dense, units: 4, repeat: 0}, {type: dense, units: 2}]
    """)
    assert a.layers == ["dense1"] and a.graph.decl("dense1").inputs == ["input"]


def test_defaults_apply_under_explicit_attributes():
    a = spec("""
        input: [3, 8, 8]
        defaults: {conv2d: {kernel: 3, padding: same, bias: false}}
        layers: [{type: conv2d, filters: 4}, {type: conv2d, filters: 4, bias: true}]
    """)
    assert [sum(p.numel for p in a.params[n]) for n in a.layers] == [4 * 3 * 9, 4 * 4 * 9 + 4]


def test_residual_names_follow_torchvision():
    a = spec("""
        input: [8, 8, 8]
        defaults: {conv2d: {bias: false, kernel: 3, padding: 1}}
        blocks:
          basic:
            params: {filters: required, stride: 1}
            layers:
              - residual:
                  layers:
                    - {name: conv1, type: conv2d, filters: $filters, stride: $stride}
                    - {name: bn1, type: batchnorm}
              - {type: relu}
        layers:
          - {name: layer1, block: basic, filters: 16, repeat: 2, first: {stride: 2}}
    """)
    names = {f"{layer}.{p.name}" for layer, ps in a.params.items() for p in ps}
    assert "layer1.0.downsample.0.weight" in names and "layer1.0.downsample.1.running_var" in names
    assert not any(n.startswith("layer1.1.downsample") for n in names)     # identity: no layer at all
    assert a.graph.decl("layer1.1.add0").inputs == ["layer1.1.bn1", "layer1.0.relu0"]


def test_projection_stride_comes_from_the_size_ratio():
    a = spec("""
        input: [8, 16, 16]
        layers:
          - residual:
              layers: [{type: conv2d, filters: 8, kernel: 3, stride: 4, padding: 1}]
              shortcut: projection
    """)
    assert a.shapes["downsample"] == (8, 4, 4)
    assert a.fields["downsample"].stride == (4, 4)


def test_uneven_residual_ratio_is_an_error():
    with pytest.raises(SpecErrors, match="not an even stride"):
        spec("""
            input: [8, 10, 10]
            layers:
              - residual: {layers: [{type: conv2d, filters: 8, kernel: 4}]}
        """)


def test_parallel_concat_with_identity_branch():
    a = spec("""
        input: [8, 4, 4]
        layers:
          - parallel:
              branches: [[], [{type: conv2d, filters: 4, kernel: 1}]]
    """)
    assert a.shapes["concat0"] == (12, 4, 4)
    assert a.graph.decl("concat0").inputs == ["input", "conv2d0"]


def test_parallel_split_gives_each_branch_a_share_of_channels():
    a = spec("""
        input: [8, 4, 4]
        layers:
          - parallel: {branches: [[], [{type: relu}]], split: true}
          - {type: channel_shuffle, groups: 2}
    """)
    assert a.shapes["split0"] == (4, 4, 4) and a.shapes["concat0"] == (8, 4, 4)


def test_multiply_broadcasts_for_squeeze_excitation():
    a = spec("""
        input: [16, 8, 8]
        layers:
          - name: se
            parallel:
              merge: multiply
              branches:
                - []
                - [{type: global_avgpool, keepdims: true}, {type: conv2d, filters: 16, kernel: 1},
                   {type: sigmoid}]
    """)
    assert a.shapes["se"] == (16, 8, 8)
    assert "se.conv2d0" in a.shapes          # a named region nests its layers


def test_several_named_inputs_and_dag_wiring():
    a = spec("""
        inputs:
          x: [34, 5]
          adj: {shape: [34, 34], kind: graph}
        layers:
          - {name: g1, type: gcn_conv, units: 8, inputs: [x, adj]}
          - {name: g2, type: gcn_conv, units: 2, inputs: [g1, adj]}
    """)
    assert a.shapes["g2"] == (34, 2)
    assert a.fields["g2"].n == 2


def test_a_layer_may_read_a_later_layer_when_there_is_no_cycle():
    a = spec("""
        input: [4]
        layers:
          - {name: out, type: add, inputs: [a, b]}
          - {name: a, type: dense, units: 4, inputs: [input]}
          - {name: b, type: dense, units: 4, inputs: [input]}
    """)
    assert a.layers.index("out") > a.layers.index("b")


def test_several_inputs_need_explicit_wiring():
    with pytest.raises(SpecErrors, match="several inputs"):
        spec("""
            inputs: {a: [4], b: [4]}
            layers: [{type: dense, units: 2}]
        """)


def test_duplicate_names_are_reported():
    with pytest.raises(SpecErrors, match="used twice"):
        spec("""
            input: [4]
            layers: [{name: a, type: relu}, {name: a, type: relu}]
        """)


def test_dollar_at_top_level_is_an_unknown_parameter():
    with pytest.raises(SpecErrors, match=r"unknown parameter \$width"):
        spec("""
            input: [4]
            layers: [{type: dense, units: $width}]
        """)
