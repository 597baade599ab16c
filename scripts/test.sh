#!/usr/bin/env bash
# Set everything up and run the lint and the test suite (slow end-to-end tests: add -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh requirements-dev.txt
. .venv/bin/activate
ruff check .
exec python -m pytest -q "$@"
