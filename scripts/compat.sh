#!/usr/bin/env bash
# Run the Claude Code tests against another CLI version than the pinned one (default: the
# newest on npm). The CLI is installed into a directory of its own (.tools/compat-VERSION,
# never globally) and the tests find it through WZP_CLAUDE_BIN. Extra arguments go to pytest.
#
#   scripts/compat.sh                 # newest @anthropic-ai/claude-code
#   scripts/compat.sh 2.1.300 -x      # a given version, stop at the first failure
#
# Prints the version tested and exits with pytest's status: 0 means every Claude test passed
# with that version, so the pin in scripts/test.sh may move to it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VERSION=${1:-latest}
[[ $# -gt 0 ]] && shift
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
DIR="$ROOT/.tools/compat-$VERSION"

mkdir -p "$DIR"
echo "== installing @anthropic-ai/claude-code@$VERSION into $DIR"
npm install --silent --no-fund --no-audit --prefix "$DIR" "@anthropic-ai/claude-code@$VERSION" >/dev/null
INSTALLED=$(node -p "require('$DIR/node_modules/@anthropic-ai/claude-code/package.json').version")
export WZP_CLAUDE_BIN="$DIR/node_modules/.bin/claude"
echo "== Claude Code $INSTALLED ($WZP_CLAUDE_BIN)"

# every test that runs the real CLI (they find it through WZP_CLAUDE_BIN)
mapfile -t TESTS < <(grep -l "claude_binary\|WZP_CLAUDE_BIN\|claude_env\|claude_config\|pool_support" tests/test_*.py)
status=0
"$PYTHON" -m pytest -q "${TESTS[@]}" "$@" || status=$?
if ((status == 0)); then
  echo "== Claude Code $INSTALLED: every Claude test passed"
else
  echo "== Claude Code $INSTALLED: Claude tests FAILED (pytest exit $status)"
fi
exit "$status"
