#!/usr/bin/env bash
# The main job in one command. Sets up what is missing, then runs the real bot when
# $TELEGRAM_BOT_TOKEN is set and there is a config (./config.toml, $CLIP_SEARCH_CONFIG or
# --config FILE), else the playground: the real bot on an embedded Telegram, in the browser at
# http://127.0.0.1:8080. Arguments go to the program (e.g. --port 9000 for the playground).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/setup.sh" --if-needed

has_config() {
  [ -f "${CLIP_SEARCH_CONFIG:-config.toml}" ] || [[ " $* " == *" --config"* ]]
}

if [ -n "${TELEGRAM_BOT_TOKEN:-}" ] && has_config "$@"; then
  exec "$root/.venv/bin/clip-search-bot" "$@"
fi
if [ -n "${TELEGRAM_BOT_TOKEN:-}" ]; then
  echo "TELEGRAM_BOT_TOKEN is set but there is no config.toml here; to run the bot:" \
    "cp $root/config.example.toml config.toml. Meanwhile, the playground:"
else
  echo "no TELEGRAM_BOT_TOKEN: the playground (set it, with a config.toml, to run the bot)"
fi
exec "$root/.venv/bin/clip-search-bot" playground "$@"
