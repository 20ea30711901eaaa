#!/usr/bin/env bash
# npm run build: compile the Pulumi program and the CLIs into dist/ (tsconfig.build.json: type-checked,
# nothing emitted on a type error), then type-check the tests too (tsconfig.json, no output).
# It records the sha256 of every source the compile read in dist/.sources (sha256sum format),
# hashed BEFORE compiling: a compiled run (scripts/compiled.ts) refuses to start when a source differs
# from that record, so a stale dist/ never runs old code, even after an edit made during the build.
# A failed compile leaves no record: compiled runs refuse until a build succeeds.
# Incremental (dist/*.tsbuildinfo): `rm -rf dist` forces a clean build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
log() { printf 'build: %s\n' "$*" >&2; }
die() { printf 'build: FAILED: %s\n' "$*" >&2; exit 1; }
tsc=node_modules/.bin/tsc
[ -x "$tsc" ] || die "no $tsc: run npm ci (or scripts/setup.sh) first"

mkdir -p dist
rm -f dist/.sources
# Every file the compile could read, hashed first (a superset: the compile's list picks from it).
find . \( -path ./node_modules -o -path ./dist -o -path ./.git -o -path ./.testbed -o -path ./coverage \) \
  -prune -o -type f \( -name '*.ts' -o -name '*.json' \) -print | sed 's|^\./||' | sort \
  | xargs -d '\n' sha256sum >dist/.hashes

started=$SECONDS
if ! "$tsc" -p tsconfig.build.json --incremental --tsBuildInfoFile dist/.build.tsbuildinfo --listFiles \
  >dist/.files; then
  grep -v '^/' dist/.files >&2 || true
  die "tsc -p tsconfig.build.json (dist/ not updated; compiled runs refuse until a build succeeds)"
fi
# The project's files the compile read (TypeScript's lib and node_modules excluded) and its options.
root="$PWD/"
{
  grep -F "$root" dist/.files | grep -vF /node_modules/ | sed "s|^$root||"
  printf '%s\n' tsconfig.json tsconfig.build.json
} | sort -u >dist/.read
awk 'NR == FNR { want[$0] = 1; next } ($2 in want) { print; found[$2] = 1 }
     END { for (f in want) if (!(f in found)) { print "build: not hashed: " f > "/dev/stderr"; bad = 1 }
           exit bad }' dist/.read dist/.hashes >dist/.sources.next || die "a source outside the hashed set"
# Outputs of sources that are gone (a file moved to a folder: dist/x.js would shadow dist/x/index.js).
find dist -name '*.js' | sed 's|^dist/||; s|\.js$|.ts|' | sort | comm -23 - dist/.read \
  | while IFS= read -r gone; do rm -f "dist/${gone%.ts}.js"; log "removed dist/${gone%.ts}.js (no ${gone})"; done
rm -f dist/.files dist/.read dist/.hashes
mv dist/.sources.next dist/.sources
log "dist/ compiled from $(wc -l <dist/.sources) sources in $((SECONDS - started)) s"

started=$SECONDS
"$tsc" --noEmit -p tsconfig.json --incremental --tsBuildInfoFile dist/.tests.tsbuildinfo \
  || die "tsc --noEmit -p tsconfig.json (the tests; dist/ is built)"
log "tests type-checked in $((SECONDS - started)) s"
