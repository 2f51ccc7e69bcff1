#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: installs what the tests need (Debian packages
# lua5.4, lua-busted, systemd (for systemd-analyze), git; a Python venv with the package and
# its dev tools; the Claude Code CLI from npm into .tools/), then runs lint, types, the Lua
# specs and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

say() { printf '\n== %s\n' "$*"; }

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
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python ------------------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
say "installing wezterm-parallel and its dev tools into .venv"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[dev]'

# --- Claude Code CLI (the real one, driven against a loopback model stub) ----------------
CLAUDE="$ROOT/.tools/claude/node_modules/.bin/claude"
if [ ! -x "$CLAUDE" ]; then
  say "installing @anthropic-ai/claude-code into .tools/claude"
  mkdir -p .tools/claude
  npm install --silent --no-fund --no-audit --prefix .tools/claude '@anthropic-ai/claude-code@2.1.197' >/dev/null
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
