#!/usr/bin/env bash
# The tests in one command. Sets up what is missing (the virtualenv; headless Chromium for the
# playground's browser test, with apt-get, when it is missing and apt-get may be used), then
# runs pytest with the given arguments (e.g. scripts/test.sh tests/test_cli.py -q).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --if-needed

have_browser() {
  command -v chromedriver >/dev/null && { command -v chromium >/dev/null \
    || command -v chromium-browser >/dev/null; }
}

if ! have_browser; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  if command -v apt-get >/dev/null && { [ -z "$sudo" ] || sudo -n true 2>/dev/null; }; then
    echo "installing headless Chromium for the browser test (apt-get)"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      chromium chromium-driver fonts-wqy-zenhei fonts-noto-color-emoji >/dev/null
  else
    echo "note: no chromium and chromedriver, and apt-get cannot install them: the browser" \
      "test is skipped (with CI=true it fails)" >&2
  fi
fi

# Chinese words in the OCR tests' pictures need a CJK font (with CI=true a missing one fails).
if command -v fc-list >/dev/null && [ -z "$(fc-list :lang=zh)" ] && command -v apt-get >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  if [ -z "$sudo" ] || sudo -n true 2>/dev/null; then
    echo "installing a CJK font for the OCR tests (apt-get)"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      fonts-wqy-zenhei >/dev/null
  fi
fi

exec .venv/bin/python -m pytest "$@"
