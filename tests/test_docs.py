"""Every ```yaml example in docs/ is a complete spec that compiles."""
import re

import pytest

from cnnc.compiler import analyse_text
from conftest import ROOT

EXAMPLES = [(path.name, i, block)
            for path in sorted((ROOT / "docs").glob("*.md"))
            for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", path.read_text(), re.S))]


@pytest.mark.parametrize("doc,index,text", EXAMPLES, ids=[f"{d}#{i}" for d, i, _ in EXAMPLES])
def test_doc_example_compiles(doc, index, text):
    assert analyse_text(text, f"{doc}#{index}").ok


def test_repeat_example_reads_as_documented():
    [text] = [t for d, _, t in EXAMPLES if t.startswith("name: repeat_example")]
    a = analyse_text(text)
    assert a.layers == ["stage.0", "stage.1", "stage.2"] and a.shapes["stage.0"] == (32, 16, 16)
