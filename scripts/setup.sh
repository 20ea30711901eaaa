#!/usr/bin/env bash
# The README's set-up command: everything `npm test` needs on a fresh Debian machine (root).
#   - Node.js 20+ and npm (Debian's, only when none is installed)
#   - the system tools the unit tests run for real (tests/system-tools.js lists them)
#   - the npm dependencies, exactly as package-lock.json pins them (npm ci), then dist/ (npm run build)
# The end-to-end test bed installs its own daemons: tests/bed/testbed.sh up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: FAILED: %s\n' "$*" >&2; exit 1; }

missing=()
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing+=(nodejs npm); fi
if command -v node >/dev/null; then
  # the tool list lives in one place: the unit tests' own check
  mapfile -t need < <(node -e 'for (const [t, p] of require("./tests/system-tools.js").TOOLS) console.log(t + " " + p)')
else
  need=("caddy caddy" "named-checkzone bind9-utils" "iptables-restore iptables" "ip iproute2" "socat socat"
        "openssl openssl" "flock util-linux" "shellcheck shellcheck" "gawk gawk" "busybox busybox")
fi
for pair in "${need[@]}"; do
  command -v "${pair%% *}" >/dev/null || missing+=("${pair#* }")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}): run this as root, or apt-get install them"
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || die "apt-get update failed"
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
fi
log "node $(node --version), npm $(npm --version)"
npm ci --no-audit --no-fund || die "npm ci failed"
npm run -s build || die "npm run build failed"
log "ready: npm test (unit), then tests/bed/testbed.sh up && npm run test:e2e (root)"
