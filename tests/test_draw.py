"""`cnnc draw`: real Graphviz output for every spec, folding, broken specs, determinism."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cnnc.compiler import analyse
from cnnc.draw import diagram, render
from conftest import ROOT

SPECS = sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))
SVG = "{http://www.w3.org/2000/svg}"


def svg_nodes(svg: bytes) -> dict[str, str]:
    """{node id (its <title>): the text of its label} from Graphviz's SVG."""
    root = ET.fromstring(svg)
    nodes = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "node":
            title = g.find(f"{SVG}title").text
            nodes[title] = " ".join(t.text or "" for t in g.iter(f"{SVG}text"))
    return nodes


@pytest.mark.parametrize("name", SPECS)
def test_every_spec_renders_to_svg(name):
    a = analyse(str(ROOT / "specs" / f"{name}.yaml"))
    nodes = svg_nodes(render(diagram(a), "svg"))
    outputs = [n for n in nodes if n.startswith("(output")]
    # one node per layer and per input, an output node per network output, and the legend
    assert len(nodes) == len(a.layers) + len(a.graph.inputs) + len(outputs) + 1
    assert len(outputs) == len(a.graph.outputs)
    for layer in a.layers:
        assert a.graph.decl(layer).kind in nodes[layer]


def test_collapse_folds_resnet152_into_its_stages():
    a = analyse(str(ROOT / "specs" / "resnet152.yaml"))
    nodes = svg_nodes(render(diagram(a, collapse=True), "svg"))
    assert len(nodes) < 40
    assert "layer3.1–35 bottleneck ×35" in nodes["layer3.1×35"]
    assert "layer3.0 bottleneck" in nodes["layer3.0×1"]


def test_detail_levels(run_cli):
    a = analyse(str(ROOT / "examples" / "inception_module.yaml"))
    kinds, attrs, shapes, full = (diagram(a, detail) for detail in ("kinds", "attrs", "shapes", "full"))
    assert 'label=conv2d' in kinds and "filters" not in kinds
    assert "filters 64, kernel 1" in attrs and 'label="192×28×28"' not in attrs
    assert 'label="192×28×28"' in shapes and "12,352 params" in shapes
    assert "MACs · RF 3×3" in full


def test_golden_dot_for_a_small_spec(golden):
    a = analyse(str(ROOT / "examples" / "inception_module.yaml"))
    golden.check("inception_module.dot", diagram(a, "shapes", "LR"))


def test_dot_text_is_deterministic_across_processes(tmp_path):
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"g{seed}.dot"
        subprocess.run([sys.executable, "-m", "cnnc", "draw", "specs/googlenet.yaml", "-o", str(out)], cwd=ROOT,
                       env={**os.environ, "PYTHONHASHSEED": seed}, check=True, capture_output=True)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_broken_spec_is_drawn_with_the_failing_layer_in_red(run_cli, tmp_path):
    out = tmp_path / "broken.svg"
    result = run_cli("draw", "tests/specs/bad/add_mismatch.yaml", "-o", str(out))
    assert result.exit_code == 1
    assert "add_mismatch.yaml:5:5: error: layer 'add0' (add): cannot broadcast" in result.output
    svg = out.read_bytes()
    nodes = svg_nodes(svg)
    assert "error: cannot broadcast" in nodes["add0"] and "a" in nodes and "b" in nodes
    red = [g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("class") == "node"
           and any(p.get("stroke") == "#d62728" for p in g.iter(f"{SVG}path"))]
    assert [g.find(f"{SVG}title").text for g in red] == ["add0"]


def test_layers_after_a_broken_one_are_not_drawn(tmp_path):
    a = analyse(str(ROOT / "tests" / "specs" / "bad" / "shrinks.yaml"))
    text = diagram(a)
    assert "conv2d1" in text and "(output)" not in text


@pytest.mark.parametrize("suffix,magic", [("svg", b"<?xml"), ("png", b"\x89PNG"), ("pdf", b"%PDF"), ("dot", b"digraph")])
def test_format_comes_from_the_suffix(run_cli, tmp_path, suffix, magic):
    out = tmp_path / f"lenet.{suffix}"
    assert run_cli("draw", "specs/lenet5.yaml", "-o", str(out)).exit_code == 0
    assert out.read_bytes().startswith(magic)


def test_format_option_overrides_the_suffix(run_cli, tmp_path):
    out = tmp_path / "lenet.txt"
    assert run_cli("draw", "specs/lenet5.yaml", "-o", str(out), "--format", "dot", "--rankdir", "LR").exit_code == 0
    assert "rankdir=LR" in out.read_text()


def test_unknown_suffix_is_a_usage_error(run_cli, tmp_path):
    result = run_cli("draw", "specs/lenet5.yaml", "-o", str(tmp_path / "lenet.jpeg"))
    assert result.exit_code == 2 and "end it in .svg, .png, .pdf or .dot" in result.output


def test_without_dot_it_says_how_to_install_and_still_writes_dot(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}            # no `dot` anywhere on PATH
    svg = tmp_path / "lenet.svg"
    svg.write_text("the user's old file")
    result = subprocess.run([sys.executable, "-m", "cnnc", "draw", "specs/lenet5.yaml", "-o", str(svg)],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 1 and "apt-get install graphviz" in result.stderr
    assert "Traceback" not in result.stderr
    assert svg.read_text() == "the user's old file"         # never half-written or lost
    dot = tmp_path / "lenet.dot"
    result = subprocess.run([sys.executable, "-m", "cnnc", "draw", "specs/lenet5.yaml", "-o", str(dot)],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and dot.read_text().startswith("digraph")


def test_unwritable_output_is_a_clear_error(run_cli, tmp_path):
    result = run_cli("draw", "specs/lenet5.yaml", "-o", str(tmp_path / "no" / "such" / "dir.svg"))
    assert result.exit_code == 1 and "cannot write" in result.output
