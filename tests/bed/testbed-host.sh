#!/usr/bin/env bash
# Sourced by tests/bed/testbed.sh (uses its variables and log/die): installs what the test bed
# needs, starts incusd and lxd, creates the pool and bridges, builds and imports the image.

install_packages() {
  local src=/etc/apt/sources.list.d/incus-tenant-backports.sources missing=()
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding bookworm-backports (incus 6.0 lives there)"
    printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm-backports' 'Components: main' \
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' > "$src"
  fi
  [ -x "$INCUSD" ] || missing+=(backports)
  local pkg
  for pkg in lxd lxd-client openssh-server caddy bind9-utils dnsutils iptables nftables debootstrap \
             rsync curl jq socat dnsmasq-base iproute2 xz-utils; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} = 0 ] && return 0
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || die "apt-get update failed"
  if [[ " ${missing[*]} " == *" backports "* ]]; then
    apt-get install -y -q --no-install-recommends -t bookworm-backports incus-base incus-client >/dev/null \
      || die "installing incus from bookworm-backports failed"
  fi
  local rest=("${missing[@]/backports/}")
  # shellcheck disable=SC2068
  [ -z "${rest[*]// /}" ] || apt-get install -y -q --no-install-recommends ${rest[@]} >/dev/null \
    || die "apt-get install failed"
}

# Incus (root:1000000:1000000000) and LXD (root:1001000000:...) packages each add a root range;
# two root ranges give containers an invalid uid map, so keep exactly one while the bed is up.
ensure_subids() {
  local f
  for f in /etc/subuid /etc/subgid; do
    [ "$(grep -c '^root:' "$f" 2>/dev/null || true)" = 1 ] && continue
    [ -e "$TB/orig$(basename "$f")" ] || cp -a "$f" "$TB/orig$(basename "$f")" 2>/dev/null \
      || touch "$TB/absent$(basename "$f")"
    { grep -v '^root:' "$f" 2>/dev/null || true; echo "root:1000000:1000000000"; } > "$f.itn" && mv "$f.itn" "$f"
  done
}

start_daemons() {
  mkdir -p "$TB"
  if ! incus info >/dev/null 2>&1; then
    log "starting incusd"
    setsid "$INCUSD" --group root --logfile "$TB/incusd.log" >>"$TB/incusd.out" 2>&1 < /dev/null &
    echo $! > "$TB/incusd.pid"
  fi
  timeout 90 incus admin waitready || die "incusd did not become ready (see $TB/incusd.log)"
  if ! lxc info >/dev/null 2>&1; then
    log "starting lxd"
    setsid lxd --group root --logfile "$TB/lxd.log" >>"$TB/lxd.out" 2>&1 < /dev/null &
    echo $! > "$TB/lxd.pid"
  fi
  timeout 90 lxd waitready || die "lxd did not become ready (see $TB/lxd.log)"
}

# $1 = incus|lxc, $2 = bridge, $3 = address
ensure_pool_and_bridge() {
  local c=$1
  $c storage show "$POOL" >/dev/null 2>&1 || $c storage create "$POOL" dir >/dev/null
  $c network show "$2" >/dev/null 2>&1 || \
    $c network create "$2" ipv4.address="$3" ipv4.nat=false ipv6.address=none >/dev/null
  if ! $c profile device get default root pool >/dev/null 2>&1; then
    $c profile device add default root disk path=/ pool="$POOL" >/dev/null
  fi
}

# The image recipe; its hash names the cache entry, so any change here rebuilds it.
IMAGE_PACKAGES=systemd-sysv,udev,iproute2,iptables,caddy,procps,socat,rsync,bind9,dnsutils,curl,ca-certificates,openssl
image_recipe() { declare -f build_image; echo "$IMAGE_PACKAGES"; }
build_image() { # $1 = output tarball
  local work; work=$(mktemp -d /var/tmp/itn-image.XXXXXX)
  log "debootstrap bookworm minbase into $work (about a minute or two)"
  debootstrap --variant=minbase --include="$IMAGE_PACKAGES" bookworm "$work/rootfs" http://deb.debian.org/debian \
    > "$TB/debootstrap.log" 2>&1 || { rm -rf "$work"; die "debootstrap failed (see $TB/debootstrap.log)"; }
  mkdir -p "$work/rootfs/etc/systemd/network" "$work/rootfs/etc/systemd/system/multi-user.target.wants"
  printf '[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n' > "$work/rootfs/etc/systemd/network/eth0.network"
  ln -sf /lib/systemd/system/systemd-networkd.service "$work/rootfs/etc/systemd/system/multi-user.target.wants/"
  echo "nameserver 198.18.2.1" > "$work/rootfs/etc/resolv.conf"
  # Nothing in a test container may reach out on its own: no resolver priming, no apt timers.
  local unit
  for unit in named.service apt-daily.timer apt-daily-upgrade.timer; do
    ln -sf /dev/null "$work/rootfs/etc/systemd/system/$unit"
  done
  # Tests unmask named (BIND stands in for CoreDNS): authoritative only, so it never primes the
  # root servers (measured: 80 dropped packets to a.root-servers.net & co. per e2e run before).
  printf '%s\n' 'options {' $'\tdirectory "/var/cache/bind";' $'\trecursion no;' $'\tdnssec-validation no;' \
    $'\tlisten-on-v6 { none; };' '};' \
    > "$work/rootfs/etc/bind/named.conf.options"
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  printf '%s\n' 'architecture: x86_64' "creation_date: $(date +%s)" 'properties:' \
    '  description: incus-tenant test bed (Debian bookworm minbase)' '  os: debian' '  release: bookworm' \
    > "$work/metadata.yaml"
  tar -C "$work" -czf "$1.tmp" metadata.yaml rootfs && mv "$1.tmp" "$1"
  rm -rf "$work"
}

ensure_image() {
  local hash tarball
  hash=$(image_recipe | sha256sum | cut -c1-16)
  tarball="$CACHE/$IMAGE-$hash.tar.gz"
  mkdir -p "$CACHE"
  if [ -s "$tarball" ]; then log "image cached: $tarball"; else build_image "$tarball"; fi
  find "$CACHE" -maxdepth 1 -name "$IMAGE-*.tar.gz" ! -name "$IMAGE-$hash.tar.gz" -delete # older recipes
  local c
  for c in incus lxc; do
    if [ "$($c image list "$IMAGE" --format csv -c l 2>/dev/null)" = "$IMAGE" ] && \
       [ "$($c image get-property "$IMAGE" description 2>/dev/null || true)" != "" ] && \
       [ -f "$TB/image.$c" ] && [ "$(cat "$TB/image.$c")" = "$hash" ]; then continue; fi
    $c image delete "$IMAGE" >/dev/null 2>&1 || true
    log "importing $IMAGE into $c"
    $c image import "$tarball" --alias "$IMAGE" >/dev/null || die "$c image import failed"
    echo "$hash" > "$TB/image.$c"
  done
}
