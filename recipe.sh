#!/usr/bin/env bash
# Reproduce a model's artifacts, like a model card's recipe.sh: a thin wrapper over `zoo build`.
#   ./recipe.sh NAME [TARGET...] [-- ZOO_BUILD_OPTIONS...]
#   ./recipe.sh deeplabv3 imx8mp -- --calibration VOC2012/JPEGImages --record
set -euo pipefail
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  echo "usage: ./recipe.sh NAME [TARGET...] [-- ZOO_BUILD_OPTIONS...]   (see: zoo build --help)" >&2
  exit 2
fi
name=$1
shift
args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  args+=(--target "$1")
  shift
done
if [ "${1:-}" = "--" ]; then shift; fi
# This checkout's own virtualenv first (no need to activate it), then an installed zoo.
here=$(cd "$(dirname "$0")" && pwd)
for zoo in "$here/.venv/bin/zoo" "$(command -v zoo || true)"; do
  if [ -n "$zoo" ] && [ -x "$zoo" ]; then
    exec "$zoo" build "$name" ${args[@]+"${args[@]}"} "$@"
  fi
done
echo "recipe.sh: zoo is not installed here. Set it up once with:" >&2
echo "  python3 -m venv $here/.venv && $here/.venv/bin/pip install -e '$here[build,run]'" >&2
exit 1
