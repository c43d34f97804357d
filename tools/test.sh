#!/usr/bin/env bash
# The test command of the README and of CI: install what is missing, then run the default (fast) tests.
# Extra arguments go to pytest, e.g. `bash tools/test.sh -m slow` for the training-sized runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/python -m pytest -q "$@"
