#!/usr/bin/env bash
# Bring up a supervisor with a workspace of live agents on a fresh machine.
#
#   scripts/demo.sh [DIR]       DIR: where the agents work (default: the current directory)
#
# Installs wezterm-parallel into .venv (once) and puts `wzp` on PATH (with pipx or uv when
# present, else it prints the one line that does), starts the daemon (`wzp up`), creates the
# workspace "demo" from the built-in `default` template (two agents and a monitor pane),
# shows `wzp status` and ends with `wzp doctor`. Claude agents get ANTHROPIC_API_KEY (and
# the other Claude Code credentials) from this shell. Where `claude` is not on PATH it says
# so and runs the agent panes with your shell instead, so the supervisor, attach and
# restarts can still be tried.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
DIR=$(cd "${1:-$PWD}" && pwd)

if [ ! -x "$HERE/.venv/bin/wzp" ]; then
  echo "== installing wezterm-parallel into $HERE/.venv"
  python3 -m venv "$HERE/.venv"
  "$HERE/.venv/bin/python" -m pip install -q -e "$HERE"
fi

# `wzp` for the rest of this shell session and for the hints printed below
path_line=""
if [ "$(command -v wzp || true)" = "" ]; then
  if command -v pipx >/dev/null 2>&1 && pipx install --force --editable "$HERE" >/dev/null 2>&1; then
    echo "== installed wzp with pipx ($(pipx environment --value PIPX_BIN_DIR 2>/dev/null || echo '~/.local/bin'))"
  elif command -v uv >/dev/null 2>&1 && uv tool install --force --editable "$HERE" >/dev/null 2>&1; then
    echo "== installed wzp with uv tool ($(uv tool dir --bin 2>/dev/null || echo '~/.local/bin'))"
  fi
fi
if [ "$(command -v wzp || true)" = "" ]; then
  # pipx/uv absent (or their bin dir is not on PATH yet): the venv's own wzp
  path_line="export PATH=\"$HERE/.venv/bin:\$PATH\""
  export PATH="$HERE/.venv/bin:$PATH"
fi

args=()
user_config="${XDG_CONFIG_HOME:-$HOME/.config}/wezterm-parallel"
if ! command -v claude >/dev/null 2>&1 && [ ! -e "$user_config/config.yaml" ] && [ ! -e "$user_config/config.toml" ]; then
  shell_cmd="${SHELL:-/bin/sh}"
  echo "== claude is not on PATH: the agent panes run $shell_cmd instead"
  state="${XDG_STATE_HOME:-$HOME/.local/state}/wezterm-parallel"
  mkdir -p "$state"
  cat > "$state/demo-config.yaml" <<YAML
# written by scripts/demo.sh because claude was not on PATH: the default template with
# the user's shell in the agent panes
workspaces:
  templates:
    default:
      layout: three_pane_horizontal
      description: two shells standing in for agents, and a monitor
      panes:
        - {name: agent-1, position: left, command: ["$shell_cmd", "-i"], agent: none}
        - {name: agent-2, position: center, command: ["$shell_cmd", "-i"], agent: none}
        - {name: monitor, position: right, command: [wzp, top], supervised: false}
YAML
  args=(--config "$state/demo-config.yaml")
fi

wzp up "${args[@]}"
if wzp workspace list --json | grep -q '"name": "demo"'; then
  echo "== workspace demo exists already"
else
  wzp workspace create demo --template default --dir "$DIR"
fi
wzp status
echo
echo "== wzp doctor"
wzp doctor "${args[@]}" || true

echo
if [ -n "$path_line" ]; then
  echo "Put wzp on PATH (in this shell, and in your ~/.bashrc or ~/.zshrc):"
  echo "  $path_line"
fi
cat <<'TXT'
Attach to an agent (detach: ctrl+]):
  wzp attach demo/agent-1
Kill one and watch it come back:
  kill -9 "$(wzp status demo/agent-1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["processes"][0]["pid"])')"; sleep 1; wzp status
Stop everything:
  wzp down
TXT
