"""One golden message per class of bad input: compiler-style, located, exit 1, no traceback."""
from pathlib import Path

import pytest

BAD = sorted(p.stem for p in (Path(__file__).parent.parent / "specs" / "bad").glob("*.yaml"))


@pytest.mark.parametrize("name", BAD)
def test_bad_spec_message(run_cli, golden, name):
    result = run_cli("compile", f"tests/specs/bad/{name}.yaml")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    golden.check(f"{name}.txt", result.output)


def test_every_class_of_bad_input_has_a_spec():
    wanted = {"yaml_syntax", "wrong_type", "bad_size", "missing_attr", "unknown_attr", "unknown_kind",
              "unknown_ref", "cycle", "add_mismatch", "concat_mismatch", "shrinks", "block_unknown_param",
              "block_missing_param", "block_recursion", "huge_repeat", "unknown_block", "unsafe_tag",
              "expression_error", "many_errors", "dense_rank"}
    assert wanted <= set(BAD)


def test_every_independent_error_is_reported_once(run_cli):
    out = run_cli("compile", "tests/specs/bad/many_errors.yaml").output
    assert out.count("error:") == 3 and out.rstrip().endswith("3 errors found")
    assert ":3:32: error: unknown attribute 'kernal'" in out
    assert ":5:33: error: batchnorm attribute 'momentum'" in out
    assert ":6:42: error: dense attribute 'activation'" in out


def test_unsafe_tag_is_not_executed(run_cli, tmp_path):
    marker = tmp_path / "pwned"
    spec = tmp_path / "evil.yaml"
    spec.write_text(f'input: !!python/object/apply:os.system ["touch {marker}"]\nlayers: [{{type: relu}}]\n')
    assert run_cli("compile", str(spec)).exit_code == 1
    assert not marker.exists()
