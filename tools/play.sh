#!/usr/bin/env bash
# The README's main command: install what is missing, then play the bundled default scene with the bundled
# model (`worldloop play`). Extra arguments go to `worldloop play`, e.g. `bash tools/play.sh --backend oracle`.
# On a machine with no display, worldloop says so and shows the headless form.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/worldloop play "$@"
