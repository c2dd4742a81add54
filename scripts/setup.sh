#!/usr/bin/env bash
# Idempotent set-up, sourced by demo.sh and test.sh: a virtual env in .venv with cnnc installed
# (editable) and its test dependencies. Safe to run any number of times.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Graphviz's `dot` (for `cnnc draw`) comes from Debian's graphviz package.
if ! command -v dot >/dev/null 2>&1; then
    echo "setup: installing Graphviz (dot) with apt-get"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO=sudo
    if command -v apt-get >/dev/null 2>&1; then
        $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq graphviz >/dev/null
    fi
    command -v dot >/dev/null 2>&1 || {
        echo "setup: could not install Graphviz; install the 'graphviz' package by hand" >&2; exit 1; }
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "cnnc needs Python 3.10 or newer; set PYTHON=/path/to/python3.x" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$PYTHON" -m venv .venv
fi
# Reinstall only when the dependency list changed since the last install.
stamp=.venv/.cnnc-installed
if [ ! -f "$stamp" ] || ! cmp -s pyproject.toml "$stamp"; then
    echo "setup: installing cnnc and its dependencies into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
    cp pyproject.toml "$stamp"
fi
# PyTorch (CPU) is optional: the parity tests and `cnnc bench --compare torch` use it. It is
# installed when pip can get it (this machine keeps the 2.13.0 CPU wheel on disk).
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1 && [ ! -f .venv/.cnnc-no-torch ]; then
    echo "setup: installing PyTorch 2.13 (CPU) for the parity tests"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0" 2>/dev/null \
        || { echo "setup: PyTorch is not available here; its parity tests will be skipped"; touch .venv/.cnnc-no-torch; }
fi
# Byte-compile cnnc's own modules: Python writes no .pyc where PYTHONDONTWRITEBYTECODE is set
# (as on the dev machine), and recompiling ~60 modules at every command cost ~0.1 s of start-up.
.venv/bin/python -m compileall -q cnnc runtime >/dev/null
