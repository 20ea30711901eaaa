#!/bin/sh
# Runs a compiled CLI from dist/ (npm run plan, npm run verify): scripts/run-compiled.sh NAME [ARGS...]
# runs dist/scripts/NAME.js. The CLI itself refuses a dist/ older than its sources
# (scripts/compiled.ts); this only turns a missing build into one clear line.
js="$(dirname "$0")/../dist/scripts/$1.js"
if [ ! -f "$js" ]; then
  printf '%s: no compiled build (dist/scripts/%s.js): run npm run build\n' "$1" "$1" >&2
  exit 1
fi
shift
exec node "$js" "$@"
