#!/usr/bin/env bash
# Create .venv and install hat with its pinned dependencies (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# torch first and pinned: torch==2.13.0 is the CPU build; never let a looser spec pull CUDA wheels.
python -m pip install --quiet torch==2.13.0
python -m pip install --quiet -r "${1:-requirements.txt}"
if [ "${1:-requirements.txt}" = requirements-dev.txt ]; then
  # test-only packages whose declared dependencies clash with the pins (see the file)
  python -m pip install --quiet --no-deps -r requirements-dev-nodeps.txt
fi
python -m pip install --quiet --no-deps -e .
