"""YAML loading: values as users write them, every node located, nothing constructed from tags."""
import pytest

from cnnc.spec.errors import SpecErrors
from cnnc.spec.load import load_text


def test_scientific_notation_is_a_float():
    assert load_text("lr: 1e-4\nx: 2E3\n").plain() == {"lr": 1e-4, "x": 2000.0}


def test_nodes_know_their_line_and_column():
    root = load_text("input: [3, 32, 32]\nlayers:\n  - {type: relu}\n", "s.yaml")
    relu = root.value["layers"].value[0]
    assert (relu.span.line, relu.span.col) == (3, 5)
    assert str(relu.value["type"].span) == "s.yaml:3:12"
    assert root.key_span("layers").line == 2


def test_duplicate_key_is_an_error():
    with pytest.raises(SpecErrors) as e:
        load_text("a: 1\na: 2\n")
    assert "duplicate key 'a'" in e.value.items[0].message


@pytest.mark.parametrize("text", ["a: !!python/name:os.system x\n", "a: !custom 3\n", "a: !!binary aGk=\n"])
def test_tags_are_refused(text):
    with pytest.raises(SpecErrors) as e:
        load_text(text)
    assert "is not allowed" in e.value.items[0].message


def test_empty_file_says_what_a_spec_needs():
    with pytest.raises(SpecErrors) as e:
        load_text("")
    assert "empty" in e.value.items[0].message


def test_aliases_are_shared_not_copied():
    root = load_text("a: &x [1, 2]\nb: *x\n")
    assert root.value["a"] is root.value["b"]
