import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnnc.cli import cli

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"


@pytest.fixture
def run_cli(monkeypatch):
    """Run `cnnc ARGS…` in-process from the repository root; returns click's Result."""
    monkeypatch.chdir(ROOT)

    def run(*args):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return run


class Golden:
    """Compares text with tests/golden/NAME; CNNC_UPDATE_GOLDEN=1 rewrites the files."""

    def check(self, name: str, text: str) -> None:
        path = GOLDEN / name
        if os.environ.get("CNNC_UPDATE_GOLDEN"):
            path.write_text(text)
        assert path.exists(), f"no golden file {path}; run with CNNC_UPDATE_GOLDEN=1 to create it"
        assert text == path.read_text()


@pytest.fixture
def golden():
    return Golden()
