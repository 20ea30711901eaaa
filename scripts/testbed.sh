#!/usr/bin/env bash
# incus-tenant test bed: a real Incus daemon, a real LXD daemon, an OpenSSH server on
# 127.0.0.1:2222 and a client network namespace, on this machine (Debian bookworm, root).
#
#   scripts/testbed.sh up          install what is missing, start daemons, build/import the image,
#                                  create pools, bridges, the client namespace, write the stack file
#   scripts/testbed.sh down        undo everything `up` made; stops only the PIDs it started
#   scripts/testbed.sh status      exit 0 when the test bed is usable
#   scripts/testbed.sh sshd-stop   stop the test sshd (used by the SSH-cut scenario)
#   scripts/testbed.sh sshd-start  start it again
#
# Every address is in 198.18.0.0/15: bridges get no NAT to the outside.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TB="$ROOT/.testbed"
CACHE=/var/cache/incus-tenant-testbed
POOL=itn-pool
INCUS_BRIDGE=itnbr0 INCUS_NET=198.18.2.1/24
LXD_BRIDGE=itnlxdbr0 LXD_NET=198.18.3.1/24
IMAGE=itn-bookworm
NETNS=itn-client EXT_IF=itn-ext0 CLI_IF=itn-cli0 HOST_EXT_IP=198.19.0.1 CLIENT_IP=198.19.0.2
SSH_PORT=2222
STACK_FILE="$ROOT/Pulumi.e2e.yaml"
INCUSD=/usr/libexec/incus/incusd

log() { printf 'testbed: %s\n' "$*" >&2; }
die() { printf 'testbed: FAILED: %s\n' "$*" >&2; exit 1; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
[ "$(id -u)" = 0 ] || die "run as root (it installs packages and creates bridges)"

install_packages() {
  local src=/etc/apt/sources.list.d/incus-tenant-backports.sources missing=()
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding bookworm-backports (incus 6.0 lives there)"
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > "$src"
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
  [ -z "${rest[*]// /}" ] || apt-get install -y -q --no-install-recommends ${rest[@]} >/dev/null || die "apt-get install failed"
}

# Incus (root:1000000:1000000000) and LXD (root:1001000000:...) packages each add a root range;
# two root ranges give containers an invalid uid map, so keep exactly one while the bed is up.
ensure_subids() {
  local f
  for f in /etc/subuid /etc/subgid; do
    [ "$(grep -c '^root:' "$f" 2>/dev/null || true)" = 1 ] && continue
    [ -e "$TB/orig$(basename "$f")" ] || cp -a "$f" "$TB/orig$(basename "$f")" 2>/dev/null || touch "$TB/absent$(basename "$f")"
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
  for unit in named.service apt-daily.timer apt-daily-upgrade.timer; do ln -sf /dev/null "$work/rootfs/etc/systemd/system/$unit"; done
  # Tests unmask named (BIND stands in for CoreDNS): authoritative only, so it never primes the
  # root servers (measured: 80 dropped packets to a.root-servers.net & co. per e2e run before).
  printf 'options {\n\tdirectory "/var/cache/bind";\n\trecursion no;\n\tdnssec-validation no;\n\tlisten-on-v6 { none; };\n};\n' \
    > "$work/rootfs/etc/bind/named.conf.options"
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  printf 'architecture: x86_64\ncreation_date: %s\nproperties:\n  description: incus-tenant test bed (Debian bookworm minbase)\n  os: debian\n  release: bookworm\n' \
    "$(date +%s)" > "$work/metadata.yaml"
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

start_sshd() {
  [ -f "$TB/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C itn-testbed -f "$TB/id_ed25519"
  [ -f "$TB/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C itn-testbed-host -f "$TB/ssh_host_ed25519_key"
  cp "$TB/id_ed25519.pub" "$TB/authorized_keys"
  echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1-2 "$TB/ssh_host_ed25519_key.pub")" > "$TB/known_hosts"
  cat > "$TB/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $TB/ssh_host_ed25519_key
PidFile $TB/sshd.pid
AuthorizedKeysFile $TB/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 100:30:200
EOF
  alive "$TB/sshd.pid" && return 0
  if ss -ltn "sport = :$SSH_PORT" 2>/dev/null | grep -q LISTEN; then
    die "127.0.0.1:$SSH_PORT is already in use by another process (another test bed's sshd?): stop it first"
  fi
  mkdir -p /run/sshd
  /usr/sbin/sshd -f "$TB/sshd_config" -E "$TB/sshd.log" || die "sshd did not start (see $TB/sshd.log)"
  local _
  for _ in $(seq 50); do alive "$TB/sshd.pid" && ssh_ok && return 0; sleep 0.1; done
  die "sshd on 127.0.0.1:$SSH_PORT is not answering (see $TB/sshd.log)"
}
ssh_ok() {
  ssh -i "$TB/id_ed25519" -p "$SSH_PORT" -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile="$TB/known_hosts" root@127.0.0.1 true 2>/dev/null
}

ensure_netns() {
  [ -f "$TB/ip_forward.orig" ] || cat /proc/sys/net/ipv4/ip_forward > "$TB/ip_forward.orig"
  ip netns list | grep -qw "$NETNS" || ip netns add "$NETNS"
  if ! ip link show "$EXT_IF" >/dev/null 2>&1; then
    ip link add "$EXT_IF" type veth peer name "$CLI_IF"
    ip link set "$CLI_IF" netns "$NETNS"
  fi
  ip addr replace "$HOST_EXT_IP/24" dev "$EXT_IF"; ip link set "$EXT_IF" up
  ip -n "$NETNS" addr replace "$CLIENT_IP/24" dev "$CLI_IF"
  ip -n "$NETNS" link set lo up; ip -n "$NETNS" link set "$CLI_IF" up
  ip -n "$NETNS" route replace default via "$HOST_EXT_IP"
}

# Host-level files the program writes; remember whether they existed before the test bed.
remember_host_files() {
  local f
  for f in /etc/iptables/rules.v4 /etc/systemd/system/iptables-restore.service; do
    local key; key=$(echo "$f" | tr / _)
    [ -e "$TB/orig$key" ] || [ -e "$TB/absent$key" ] || {
      if [ -e "$f" ]; then cp -a "$f" "$TB/orig$key"; else touch "$TB/absent$key"; fi
    }
  done
}

write_stack() {
  local hostkey; hostkey=$(cut -d' ' -f1-2 "$TB/ssh_host_ed25519_key.pub")
  cat > "$STACK_FILE" <<EOF
# Generated by scripts/testbed.sh up (git-ignored): the e2e tenant on the local test bed.
config:
  incus-tenant:tenant:
    name: e2e
    environment: stage
    domain: example.com
    host:
      address: 127.0.0.1
      port: $SSH_PORT
      user: root
      hostKey: $hostkey
      externalInterface: $EXT_IF
      publicAddress: $HOST_EXT_IP
    network:
      bridge: $INCUS_BRIDGE
      subnet: ${INCUS_NET%.1/24}.0/24
    storagePool: $POOL
    image: $IMAGE
    containers:
      proxy:  { ipv4: 198.18.2.10, ports: [80, 443] }
      dns:    { ipv4: 198.18.2.11, ports: [53] }
      system: { ipv4: 198.18.2.12, privileged: true, ports: [5858] }
      alm-ci: { ipv4: 198.18.2.13, ports: [] }
    nat:
      - { ports: [80, 443], protocol: tcp, to: proxy }
      - { ports: [53], protocol: [tcp, udp], to: dns }
EOF
  cat > "$TB/env" <<EOF
TESTBED_DIR=$TB
SSH_HOST=127.0.0.1
SSH_PORT=$SSH_PORT
SSH_USER=root
SSH_KEY=$TB/id_ed25519
SSH_KNOWN_HOSTS=$TB/known_hosts
NETNS=$NETNS
EXT_IF=$EXT_IF
HOST_EXT_IP=$HOST_EXT_IP
CLIENT_IP=$CLIENT_IP
INCUS_BRIDGE=$INCUS_BRIDGE
LXD_BRIDGE=$LXD_BRIDGE
POOL=$POOL
IMAGE=$IMAGE
STACK_FILE=$STACK_FILE
EOF
}

# Safety net: packets from the test bridges and the client namespace never leave 198.18.0.0/15.
EGRESS=itn-testbed-egress
ensure_egress_guard() {
  iptables -w -N "$EGRESS" 2>/dev/null || true
  iptables -w -F "$EGRESS"
  iptables -w -A "$EGRESS" -s 198.18.0.0/15 ! -d 198.18.0.0/15 -m limit --limit 10/min -j LOG --log-prefix "$EGRESS: "
  iptables -w -A "$EGRESS" -s 198.18.0.0/15 ! -d 198.18.0.0/15 -j DROP
  iptables -w -C FORWARD -j "$EGRESS" 2>/dev/null || iptables -w -I FORWARD 1 -j "$EGRESS"
}
# Packets the guard dropped since it was made (empty when the guard is missing).
egress_drops() { iptables -w -L "$EGRESS" -v -n -x 2>/dev/null | awk '$3 == "DROP" { print $1 }'; }
remove_egress_guard() {
  while iptables -w -D FORWARD -j "$EGRESS" 2>/dev/null; do :; done
  iptables -w -F "$EGRESS" 2>/dev/null && iptables -w -X "$EGRESS" 2>/dev/null || true
}

cmd_up() {
  local t0=$SECONDS
  mkdir -p "$TB"
  install_packages
  ensure_subids
  start_daemons
  ensure_pool_and_bridge incus "$INCUS_BRIDGE" "$INCUS_NET"
  ensure_pool_and_bridge lxc "$LXD_BRIDGE" "$LXD_NET"
  ensure_image
  remember_host_files
  ensure_netns
  ensure_egress_guard
  start_sshd
  write_stack
  ssh_ok || die "ssh with the pinned host key failed"
  log "up in $((SECONDS - t0)) s: incus $(incus version | sed -n 's/^Server version: //p'), lxd $(lxd --version), sshd 127.0.0.1:$SSH_PORT, netns $NETNS"
}

# Removes instances on our pool (protected ones too: the test bed owns them).
purge_instances() {
  local c=$1 name
  for name in $($c list --format json 2>/dev/null | jq -r --arg p "$POOL" '.[] | select(.expanded_devices.root.pool == $p) | .name'); do
    $c config set "$name" security.protection.delete=false >/dev/null 2>&1 || true
    $c delete --force "$name" >/dev/null 2>&1 || log "could not delete $c instance $name"
  done
}

clean_iptables() {
  local table line chain
  for table in nat filter; do
    { iptables-save -t "$table" | grep -E '^-A ' | grep -E 'incus-tenant:|-j ITN-' || true; } | while read -r line; do
      eval "iptables -w -t $table ${line/#-A/-D}" || true
    done
    for chain in $(iptables-save -t "$table" | sed -n 's/^:\(ITN-[^ ]*\) .*/\1/p' || true); do
      iptables -w -t "$table" -F "$chain" && iptables -w -t "$table" -X "$chain" || true
    done
  done
}

# The reverse of ensure_pool_and_bridge (+ the image): $1 = incus|lxc, $2 = bridge.
remove_pool_and_bridge() {
  local c=$1
  purge_instances "$c"
  $c image delete "$IMAGE" >/dev/null 2>&1 || true
  $c profile device remove default root >/dev/null 2>&1 || true
  $c network delete "$2" >/dev/null 2>&1 || true
  $c storage delete "$POOL" >/dev/null 2>&1 || true
}

cmd_down() {
  [ -d "$TB" ] || { log "nothing to tear down"; return 0; }
  if incus info >/dev/null 2>&1; then remove_pool_and_bridge incus "$INCUS_BRIDGE"; fi
  if lxc info >/dev/null 2>&1; then remove_pool_and_bridge lxc "$LXD_BRIDGE"; fi
  if incus remote list --format csv 2>/dev/null | grep -q '^lxd-source'; then incus remote remove lxd-source || true; fi
  local pidf
  for pidf in "$TB/sshd.pid" "$TB/incusd.pid" "$TB/lxd.pid"; do
    if alive "$pidf"; then
      local pid; pid=$(cat "$pidf"); kill "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidf"
  done
  ip netns list | grep -qw "$NETNS" && ip netns delete "$NETNS"
  ip link show "$EXT_IF" >/dev/null 2>&1 && ip link delete "$EXT_IF"
  clean_iptables
  remove_egress_guard
  rm -f /etc/sysctl.d/60-incus-tenant-*.conf
  [ -f "$TB/ip_forward.orig" ] && cat "$TB/ip_forward.orig" > /proc/sys/net/ipv4/ip_forward
  local f key
  for f in /etc/iptables/rules.v4 /etc/systemd/system/iptables-restore.service; do
    key=$(echo "$f" | tr / _)
    if [ -e "$TB/orig$key" ]; then cp -a "$TB/orig$key" "$f"; elif [ -e "$TB/absent$key" ]; then rm -f "$f"; fi
  done
  [ -e "$TB/absent_etc_systemd_system_iptables-restore.service" ] && rm -f /etc/systemd/system/multi-user.target.wants/iptables-restore.service
  for f in subuid subgid; do
    if [ -e "$TB/orig$f" ]; then cp -a "$TB/orig$f" "/etc/$f"; elif [ -e "$TB/absent$f" ]; then rm -f "/etc/$f"; fi
  done
  rm -rf "$TB" "$STACK_FILE"
  log "down: test bed removed"
}

cmd_status() {
  local ok=0
  incus info >/dev/null 2>&1 && echo "incusd: up" || { echo "incusd: down"; ok=1; }
  lxc info >/dev/null 2>&1 && echo "lxd: up" || { echo "lxd: down"; ok=1; }
  [ -f "$TB/env" ] && ssh_ok && echo "sshd: up (127.0.0.1:$SSH_PORT)" || { echo "sshd: down"; ok=1; }
  ip netns list 2>/dev/null | grep -qw "$NETNS" && echo "netns $NETNS: up" || { echo "netns $NETNS: missing"; ok=1; }
  [ "$(incus image list "$IMAGE" --format csv -c l 2>/dev/null)" = "$IMAGE" ] && echo "image $IMAGE: present" || { echo "image $IMAGE: missing"; ok=1; }
  local drops; drops=$(egress_drops)
  [ -n "$drops" ] && echo "egress guard: $drops packet(s) to outside 198.18.0.0/15 dropped since up" || { echo "egress guard: missing"; ok=1; }
  return $ok
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  sshd-stop) alive "$TB/sshd.pid" && kill "$(cat "$TB/sshd.pid")"; for _ in $(seq 50); do alive "$TB/sshd.pid" || exit 0; sleep 0.1; done; die "sshd still running" ;;
  sshd-start) start_sshd ;;
  *) echo "usage: $0 up|down|status|sshd-stop|sshd-start" >&2; exit 2 ;;
esac
