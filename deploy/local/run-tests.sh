#!/usr/bin/env bash
# Run pytest on the given paths; "no tests collected" (exit 5) is a failure, said plainly.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
.venv/bin/python -m pytest "$@" -p no:cacheprovider -ra
code=$?
if [ $code -eq 5 ]; then
  echo "ERROR: pytest collected no tests under: $*" >&2
  exit 1
fi
exit $code
