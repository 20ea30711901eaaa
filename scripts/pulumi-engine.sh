#!/usr/bin/env bash
# Build the real Pulumi engine from Go modules, at the versions package.json pins:
#   pulumi                    (CLI, module github.com/pulumi/pulumi/pkg/v3 at the @pulumi/pulumi version)
#   pulumi-language-nodejs    (Node language host, the pulumi/pulumi commit of that release)
#   pulumi-resource-command   (github.com/pulumi/pulumi-command/provider, the @pulumi/command release commit)
#   pulumi-resource-random    (github.com/pulumi/pulumi-random/provider/v4, the @pulumi/random release commit)
#
#   scripts/pulumi-engine.sh            build what is missing; the last line printed is the directory
#                                       that holds the four binaries
#   scripts/pulumi-engine.sh --check    only say which binaries are cached (exit 1 when one is missing)
#
# Everything comes from the Go module proxy through the ordinary `go` client. Modules whose
# go.mod carries `replace` directives cannot be built with `go install mod@version`, so each
# binary is built inside a small wrapper module written here (into the cache, never the repo)
# that requires the pinned versions and repeats the replaces the build needs.
# Binaries are cached by version under $ENGINE_CACHE (default /var/cache/incus-tenant-engine).
# A binary that cannot be built stops the script with the go client's exact error: there is no
# fallback to anything else.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${ENGINE_CACHE:-/var/cache/incus-tenant-engine}
log() { printf 'pulumi-engine: %s\n' "$*" >&2; }
die() { printf 'pulumi-engine: FAILED: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "no 'go' on PATH (this needs a machine of kind go: Go >= 1.25.11)"
pin() { # the exact version package.json pins for an npm dependency
  node -e 'const p=require(process.argv[1]);const v=p.dependencies[process.argv[2]];
    if(!/^\d+\.\d+\.\d+$/.test(v||"")){console.error("not an exact pin: "+process.argv[2]+"@"+v);process.exit(1)}
    console.log(v)' "$ROOT/package.json" "$1"
}
PULUMI_V=$(pin @pulumi/pulumi) COMMAND_V=$(pin @pulumi/command) RANDOM_V=$(pin @pulumi/random)

# Release commits of the pinned versions (pseudo-versions for modules that have no tag of their own).
# Each line: npm version -> Go pseudo-version of the release commit. Add a line when package.json moves.
pseudo() {
  case "$1" in
    language-nodejs@3.248.0) echo v3.0.0-20260624120734-a88168d865b7 ;;   # tag v3.248.0 = a88168d865b7
    command@1.2.1) echo v0.0.0-20260303235922-7f3eb6f3b77c ;;             # tag v1.2.1 = 7f3eb6f3b77c
    random@4.21.2) echo v4.0.0-20260917112258-b62f810278b9 ;;             # tag sdk/v4.21.2 = b62f810278b9
    *) die "no release commit recorded for $1: add it to pseudo() in $0" ;;
  esac
}

BIN="$CACHE/bin/pulumi-$PULUMI_V-command-$COMMAND_V-random-$RANDOM_V"
export GOMODCACHE=${GOMODCACHE:-$CACHE/gomod} GOCACHE=${GOCACHE:-$CACHE/gobuild} GOFLAGS=-mod=mod
export GOTOOLCHAIN=local CGO_ENABLED=0
mkdir -p "$BIN"

# build NAME MODULE_PATH PACKAGE LDFLAGS REQUIRE... [-- REPLACE...]
build() {
  local name=$1 pkg=$2 ldflags=$3; shift 3
  if [ -x "$BIN/$name" ]; then log "$name: cached"; return 0; fi
  [ "${CHECK_ONLY:-0}" = 1 ] && { log "$name: not built"; return 1; }
  local wrap="$CACHE/wrap/$name" started=$SECONDS
  rm -rf "$wrap"; mkdir -p "$wrap"
  { echo "module incus-tenant.invalid/engine/$name"; echo; echo "go 1.25.11"; echo
    local line
    for line in "$@"; do
      case "$line" in
        replace:*) echo "replace ${line#replace:}" ;;
        *) echo "require $line" ;;
      esac
    done
  } > "$wrap/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" > "$wrap/tools.go"
  log "$name: resolving $pkg"
  local out
  if ! out=$(cd "$wrap" && go mod tidy 2>&1); then
    log "FAILED: $name: the Go module proxy cannot serve what it needs:"; printf '%s\n' "$out" >&2
    return 1
  fi
  log "$name: building (a cold build of the CLI takes several minutes on 2 cores)"
  if ! out=$(cd "$wrap" && go build -trimpath -ldflags "-s -w $ldflags" -o "$BIN/$name.tmp" "$pkg" 2>&1); then
    rm -f "$BIN/$name.tmp"; log "FAILED: $name: go build failed:"; printf '%s\n' "$out" >&2
    return 1
  fi
  mv "$BIN/$name.tmp" "$BIN/$name"
  log "$name: built in $((SECONDS - started)) s"
}

[ "${1:-}" = --check ] && CHECK_ONLY=1
status=0
CLIP="github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e"

build pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
  "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_V" \
  "github.com/pulumi/pulumi/pkg/v3 v$PULUMI_V" "github.com/pulumi/pulumi/sdk/v3 v$PULUMI_V" \
  "replace:$CLIP" || status=1

NODEJS_MOD=github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3
build pulumi-language-nodejs "$NODEJS_MOD" \
  "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_V" \
  "$NODEJS_MOD $(pseudo "language-nodejs@$PULUMI_V")" \
  "github.com/pulumi/pulumi/pkg/v3 v$PULUMI_V" "github.com/pulumi/pulumi/sdk/v3 v$PULUMI_V" \
  "replace:$CLIP" || status=1

build pulumi-resource-command github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command \
  "-X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$COMMAND_V" \
  "github.com/pulumi/pulumi-command/provider $(pseudo "command@$COMMAND_V")" || status=1

build pulumi-resource-random github.com/pulumi/pulumi-random/provider/v4/cmd/pulumi-resource-random \
  "-X github.com/pulumi/pulumi-random/provider/v4/version.Version=$RANDOM_V" \
  "github.com/pulumi/pulumi-random/provider/v4 $(pseudo "random@$RANDOM_V")" || status=1

[ "$status" = 0 ] || die "the engine is incomplete (see above); nothing falls back to a stand-in"
echo "$BIN"
