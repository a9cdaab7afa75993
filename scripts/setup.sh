#!/usr/bin/env bash
# Install everything omniembed needs on a fresh Debian machine: system packages (apt) and a .venv at
# the repo root with the package and all extras. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(ffmpeg espeak-ng tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-fra
              tesseract-ocr-rus tesseract-ocr-jpn chromium fonts-dejavu-core)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PY"
  "$PY" -m venv .venv
fi
stamp=.venv/.omniembed-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing omniembed[all,dev,ray] into .venv"
  .venv/bin/pip install -q --upgrade pip
  # ray: the tests start a local two-node Ray cluster (tests/test_ray_index.py)
  .venv/bin/pip install -q -e ".[all,dev,ray]"
  touch "$stamp"
fi
