"""The examples run as their READMEs say."""
import subprocess
import sys

from cnnc.compiler import check
from conftest import ROOT


def test_small_resnet_example_compiles():
    a = check(str(ROOT / "examples" / "small_resnet.yaml"))
    assert a.output_shape == (10,)
    assert "layer2.0.se.fc1" in a.layers and "layer2.0.downsample" in a.layers


def test_inspect_spec_prints_state_dict_names():
    out = subprocess.run([sys.executable, "examples/inspect_spec.py", "specs/resnet18.yaml"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert "layer2.0.downsample.0.weight" in out and "11,689,512 trainable" in out


def test_inspect_spec_reports_a_bad_spec():
    result = subprocess.run([sys.executable, "examples/inspect_spec.py", "tests/specs/bad/cycle.yaml"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "layers form a cycle" in result.stderr
