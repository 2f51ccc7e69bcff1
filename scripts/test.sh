#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: installs what the tests need (Debian packages
# lua5.4, lua-busted, systemd (for systemd-analyze), git; a Python venv with the package and
# its dev tools; the Claude Code CLI from npm into .tools/), then runs lint, types, the Lua
# specs and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

say() { printf '\n== %s\n' "$*"; }

# run an install quietly; when it fails, show everything it printed and stop
quiet() {
  local log status=0
  log=$(mktemp)
  "$@" >"$log" 2>&1 || status=$?
  if [ "$status" != 0 ]; then
    printf '\n== FAILED (exit %s): %s\n' "$status" "$*" >&2
    cat "$log" >&2
    rm -f "$log"
    exit "$status"
  fi
  rm -f "$log"
}

# --- Debian packages ---------------------------------------------------------------------
missing=()
command -v lua5.4 >/dev/null || missing+=(lua5.4)
command -v busted >/dev/null || missing+=(lua-busted)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v git >/dev/null || missing+=(git)
command -v setpriv >/dev/null || missing+=(util-linux)
command -v node >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  quiet $SUDO apt-get update -qq
  quiet $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- Python ------------------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  quiet python3 -m venv .venv
fi
say "installing wezterm-parallel and its dev tools into .venv"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
quiet .venv/bin/python -m pip install -q -e '.[dev]'

# --- Claude Code CLI (the real one, driven against a loopback model stub) ----------------
CLAUDE_VERSION=2.1.332  # the version the tests drive (scripts/compat.sh tries others)
CLAUDE="$ROOT/.tools/claude/node_modules/.bin/claude"
installed=$(node -p "require('$ROOT/.tools/claude/node_modules/@anthropic-ai/claude-code/package.json').version" 2>/dev/null || true)
if [ ! -x "$CLAUDE" ] || [ "$installed" != "$CLAUDE_VERSION" ]; then
  say "installing @anthropic-ai/claude-code@$CLAUDE_VERSION into .tools/claude"
  mkdir -p .tools/claude
  quiet npm install --no-fund --no-audit --prefix .tools/claude "@anthropic-ai/claude-code@$CLAUDE_VERSION"
fi
export WZP_CLAUDE_BIN="$CLAUDE"
export WZP_BIN="$ROOT/.venv/bin/wzp"

# --- checks ------------------------------------------------------------------------------
say "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
say "mypy (strict)"
.venv/bin/mypy
say "Lua specs (busted under Lua 5.4)"
lua5.4 /usr/bin/busted
say "pytest"
.venv/bin/pytest -q "$@"
