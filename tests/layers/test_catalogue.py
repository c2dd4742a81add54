"""The catalogue (cnnc/layers/catalogue.py), and a guard that every kind has its tests here."""
import re
from pathlib import Path

import pytest

from cnnc.layers import FAMILIES, LAYERS
from cnnc.layers.catalogue import public_kinds, text

HERE = Path(__file__).parent


def test_public_kinds_leave_out_the_sugar():
    assert set(LAYERS) - set(public_kinds()) == {"split", "shortcut"}


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_kind_is_documented(kind):
    cls = LAYERS[kind]
    assert cls.__doc__ and cls.family in FAMILIES
    assert all(spec.describe_type() for spec in cls.schema.values())


def test_cnnc_layers_lists_every_public_kind():
    listed = re.findall(r"^(\w+)  \[", text(), flags=re.M)
    assert sorted(listed) == sorted(public_kinds())


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_kind_has_tests_in_this_folder(kind):
    """A new kind needs its shape, parameter, MAC, field and error tests in tests/layers/."""
    sources = "\n".join(p.read_text() for p in HERE.glob("test_*.py") if p.name != "test_catalogue.py")
    assert re.search(rf"type: {kind}\b|\"{kind}\"", sources), kind
