"""`cnnc` as users run it: through click's CliRunner, and once as a real subprocess."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT

JSON_LAYER_KEYS = {"name", "kind", "inputs", "output_shape", "params", "trainable_params", "macs",
                   "receptive_field", "block"}
JSON_TOTAL_KEYS = {"params", "trainable_params", "non_trainable_params", "macs", "activation_bytes",
                   "param_bytes"}


def test_compile_prints_a_table_with_totals(run_cli):
    result = run_cli("compile", "specs/vgg16.yaml")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["layer", "kind", "output", "params", "MACs", "RF", "stride", "start"]
    assert "params: 138,357,544 (trainable 138,357,544, non-trainable 0)" in result.output
    assert "MACs: 15.47G per sample" in result.output


def test_json_is_the_documented_contract(run_cli):
    data = json.loads(run_cli("compile", "specs/resnet18.yaml", "--format", "json").output)
    assert set(data) == {"name", "input_shapes", "layers", "totals"}
    assert data["input_shapes"] == {"input": [3, 224, 224]}
    assert all(set(layer) == JSON_LAYER_KEYS for layer in data["layers"])
    assert set(data["totals"]) == JSON_TOTAL_KEYS
    conv1 = data["layers"][0]
    assert conv1["output_shape"] == [64, 112, 112] and conv1["block"] is None
    assert conv1["receptive_field"] == {"size": [7, 7], "stride": [2, 2], "start": [0, 0]}
    assert data["layers"][-1]["receptive_field"] == "global"
    assert sum(layer["params"] for layer in data["layers"]) == data["totals"]["params"]


def test_batch_scales_macs_and_activations_not_parameters(run_cli):
    one = json.loads(run_cli("compile", "specs/lenet5.yaml", "--format", "json").output)["totals"]
    eight = json.loads(run_cli("compile", "specs/lenet5.yaml", "--format", "json", "--batch", "8").output)["totals"]
    assert eight["macs"] == 8 * one["macs"] and eight["activation_bytes"] == 8 * one["activation_bytes"]
    assert eight["params"] == one["params"]


def test_input_shape_overrides_the_spec(run_cli):
    data = json.loads(run_cli("compile", "specs/resnet18.yaml", "--format", "json",
                              "--input-shape", "3,64,64").output)
    assert data["input_shapes"] == {"input": [3, 64, 64]}
    assert data["layers"][0]["output_shape"] == [64, 32, 32]


def test_input_shapes_of_several_inputs_are_named(run_cli):
    data = json.loads(run_cli("compile", "specs/gcn.yaml", "--format", "json",
                              "--input-shape", "x=34,1433", "--input-shape", "adj=34,34").output)
    assert data["input_shapes"] == {"x": [34, 1433], "adj": [34, 34]}
    assert data["layers"][-1]["output_shape"] == [34, 7]


def test_depth_folds_blocks_into_one_row_each(run_cli):
    data = json.loads(run_cli("compile", "specs/resnet152.yaml", "--format", "json", "--depth", "1").output)
    stages = [layer for layer in data["layers"] if layer["name"].startswith("layer")]
    assert [s["name"] for s in stages] == ["layer1", "layer2", "layer3", "layer4"]
    full = json.loads(run_cli("compile", "specs/resnet152.yaml", "--format", "json").output)
    assert data["totals"] == full["totals"]


def test_markdown_is_a_pipe_table(run_cli):
    out = run_cli("compile", "specs/lenet5.yaml", "--format", "markdown").output
    assert out.startswith("## lenet5") and "| layer | kind |" in out


@pytest.mark.parametrize("args", [
    ["compile", "specs/no_such_spec.yaml"],
    ["compile", "specs/lenet5.yaml", "--format", "xml"],
    ["compile", "specs/lenet5.yaml", "--batch", "0"],
    ["compile", "specs/lenet5.yaml", "--input-shape", "3,-1"],
    ["compile", "specs/gcn.yaml", "--input-shape", "y=34,3"],
    ["compile", "specs/gcn.yaml", "--input-shape", "34,3"],
    ["layers", "conv3d"],
])
def test_usage_errors_exit_2(run_cli, args):
    result = run_cli(*args)
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_layers_lists_kinds_with_attributes_and_defaults(run_cli):
    out = run_cli("layers", "conv2d").output
    assert out.startswith("conv2d  [conv]")
    assert "    filters: int = required  output channels" in out
    assert "    stride: int | [h, w] = 1" in out


def test_docs_layers_md_is_generated_from_the_schemas(run_cli):
    assert (ROOT / "docs" / "layers.md").read_text() == run_cli("layers", "--format", "markdown").output


def test_real_subprocess_without_numba():
    probe = ("import sys, runpy; sys.argv = ['cnnc', 'compile', 'specs/resnet50.yaml', '--format', 'json']\n"
             "try:\n    runpy.run_module('cnnc', run_name='__main__')\n"
             "except SystemExit as e:\n    assert not e.code, e.code\n"
             "assert 'numba' not in sys.modules, 'cnnc compile imported numba'\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["trainable_params"] == 25_557_032


def test_bad_spec_in_a_real_subprocess_exits_1_without_traceback():
    result = subprocess.run([sys.executable, "-m", "cnnc", "compile", "tests/specs/bad/unknown_kind.yaml"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("tests/specs/bad/unknown_kind.yaml:3:12: error: unknown layer type 'conv2'")
    assert "Traceback" not in result.stderr


def test_build_prepares_a_specs_kernels_ahead_of_time(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNC_KERNEL_DIR", str(tmp_path))
    first = run_cli("build", "tests/specs/tiny/resnet.yaml")
    assert first.exit_code == 0, first.output
    assert "compiling kernels 1/" in first.output and "kernels ready" in first.output
    again = run_cli("build", "tests/specs/tiny/resnet.yaml")
    assert "(0 compiled)" in again.output and "compiling kernels" not in again.output
    assert list(tmp_path.glob("conv_fwd_*.py")) and list(tmp_path.glob("conv_wgrad_*.py"))
