#!/usr/bin/env bash
# The README's main command: install what is missing, then run worldloop's main job.
# Until the runtime lands this renders a fly-through of the default scene to out/flythrough.mp4 and .png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/worldloop flythrough "$@"
