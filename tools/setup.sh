#!/usr/bin/env bash
# Installs what worldloop needs on a fresh Debian machine, once: system packages (ffmpeg, Xvfb, xdotool,
# Mesa's EGL), a virtual environment in .venv, and worldloop itself (editable) with its dev extra.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v Xvfb >/dev/null || need+=(xvfb)
command -v xdotool >/dev/null || need+=(xdotool)
command -v import >/dev/null || need+=(imagemagick)
command -v xwininfo >/dev/null || need+=(x11-utils)
command -v chromium >/dev/null || need+=(chromium)              # the browser viewer's tests (worldloop serve)
command -v chromedriver >/dev/null || need+=(chromium-driver)
ldconfig -p | grep -q libEGL_mesa || need+=(libegl1 libegl-mesa0 libgl1-mesa-dri)
if ((${#need[@]})); then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "setup: installing Debian packages: ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

py=$(command -v python3.11 || command -v python3)
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $py"
    "$py" -m venv .venv
fi
# reinstall only when pyproject.toml changed since the last install
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
    echo "setup: installing worldloop and its dependencies into .venv (torch is pinned to the CPU build)"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[dev]"
    touch .venv/.installed
fi
