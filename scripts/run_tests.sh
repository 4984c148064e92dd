#!/usr/bin/env bash
# Lint and run the test suite inside the workspace environment. Extra args go to pytest.
# Exits non-zero when lint or any test fails.
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
set +u
# shellcheck source=/dev/null
source scripts/env.sh || exit 1
set -u
T0=$(date +%s)
echo "[test] ruff check + format check"
ruff check . || { echo "[test] FAILED: ruff check (run 'make format' for fixable issues)"; exit 1; }
ruff format --check . || { echo "[test] FAILED: ruff format (run 'make format')"; exit 1; }
echo "[test] pytest"
python -m pytest --durations=15 "$@"  # the 15 slowest tests: keeps the default run's time in view
rc=$?
echo "[test] pytest finished in $(( $(date +%s) - T0 )) s with exit code $rc"
exit $rc
