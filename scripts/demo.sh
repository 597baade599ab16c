#!/usr/bin/env bash
# Set everything up and run the end-to-end demo on synthetic data.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh requirements.txt
. .venv/bin/activate
exec python scripts/demo.py "$@"
