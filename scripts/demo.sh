#!/usr/bin/env bash
# Bring up a supervisor with a workspace of live agents on a fresh machine.
#
#   scripts/demo.sh [DIR]       DIR: where the agents work (default: the current directory)
#
# Installs wezterm-parallel into .venv (once), starts the daemon (`wzp up`), creates the
# workspace "demo" from the built-in `default` template (two agents and a monitor pane) and
# shows `wzp status`. Where `claude` is not on PATH it says so and runs the agent panes with
# your shell instead, so the supervisor, attach and restarts can still be tried.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
DIR=$(cd "${1:-$PWD}" && pwd)

if [ ! -x "$HERE/.venv/bin/wzp" ]; then
  echo "== installing wezterm-parallel into $HERE/.venv"
  python3 -m venv "$HERE/.venv"
  "$HERE/.venv/bin/python" -m pip install -q -e "$HERE"
fi
WZP="$HERE/.venv/bin/wzp"

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

"$WZP" up "${args[@]}"
if "$WZP" workspace list --json | grep -q '"name": "demo"'; then
  echo "== workspace demo exists already"
else
  "$WZP" workspace create demo --template default --dir "$DIR"
fi
"$WZP" status
cat <<TXT

Attach to an agent:   $WZP attach demo/agent-1     (detach: ctrl+])
Kill one and watch:   kill -9 \$($WZP status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["processes"][0]["pid"])'); $WZP status
Stop everything:      $WZP down
TXT
