#!/usr/bin/env bash
# ============================================================================================
#  FAKE VAULT - a TEST STAND-IN for HashiCorp Vault. It is NOT Vault and protects nothing.
# ============================================================================================
# Why: neither HashiCorp Vault nor OpenBao can be installed on the development machines (no
# download, not in the Debian registry), yet the program's Vault paths must be tested end to end.
# This script installs, inside a Debian test-bed container (or under --root DIR for unit tests):
#   <root>/usr/local/bin/vault   a bash `vault` CLI with just what the program uses:
#       vault status [-format=json]                     exit 0 unsealed, 2 sealed (like Vault)
#       vault kv put -mount=M PATH -                    JSON object of flat strings on stdin
#       vault kv get [-format=json] -mount=M PATH       {"data":{"data":{..},"metadata":{..}}}
#       vault kv metadata delete -mount=M PATH          removes every version
#       vault policy write NAME -|FILE                  (root only) a policy of one-line rules:
#                                                       path "M/data/P" { capabilities = ["create", "update"] }
#       vault token create [-orphan] -policy=NAME... [-ttl=T] [-display-name=D] [-field=token]
#                                                       (root only) a token holding those policies
#       vault token lookup                              exit 0 for a valid token (lookup-self)
#       vault token revoke -self                        revokes a created token (never the root one)
#     Every call needs VAULT_TOKEN (except status): the root token (<state>/token) may do anything;
#     a created token may only do what its policies grant, with exactly the capability Vault checks
#     (kv put: create, or update when the path exists; kv metadata delete: delete on M/metadata/P;
#     kv get: read). Anything else is refused with Vault's 403. Data, policies and tokens (by
#     sha256, never in clear) are files of mode 0600 under <state>; each call's arguments (never
#     its stdin) are appended to <state>/calls.log so a test can assert the exact calls and that no
#     secret was an argument, and every authorization decision to <state>/auth.log as
#     "<capability> <path> by root|<policies>" or "... DENIED for <policies>" (never a token).
#   a health endpoint on 127.0.0.1:<port> (default 8200) served by
#     `socat TCP-LISTEN:<port>,fork,reuseaddr EXEC:<root>/usr/local/lib/fake-vault/health`:
#     GET /v1/sys/health answers 200, 503 when <state>/sealed exists, 501 without <state>/token.
# <state> is <root>/var/lib/fake-vault. JSON is parsed with bash only (no jq/python in the image):
# one flat object of string values, escapes kept verbatim.
#
#   fake-vault.sh install [--root DIR] [--port N] [--no-server]   install (+ start the endpoint)
#   fake-vault.sh stop    [--root DIR]      stop the endpoint this script started (its pid file)
#   fake-vault.sh seal|unseal [--root DIR]  toggle <state>/sealed
set -euo pipefail

cmd=${1:-}; shift || true
ROOT="" PORT=8200 SERVER=1
while [ $# -gt 0 ]; do
  case $1 in
    --root) ROOT=${2%/}; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --no-server) SERVER=0; shift ;;
    *) echo "fake-vault.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
STATE="$ROOT/var/lib/fake-vault"
BIN="$ROOT/usr/local/bin/vault"
HEALTH="$ROOT/usr/local/lib/fake-vault/health"

write_cli() {
  cat <<'CLI' | sed "s|@STATE@|$STATE|" > "$BIN"
#!/usr/bin/env bash
# FAKE VAULT CLI (test stand-in, see tests/bed/fake-vault.sh). Not HashiCorp Vault.
set -euo pipefail
export LC_ALL=C
STATE='@STATE@'
umask 077
die() { printf 'Error: %s\n' "$*" >&2; exit 2; }
{ printf '%q ' "$@"; printf '\n'; } >> "$STATE/calls.log"

# json_flat TEXT: prints TEXT as compact {"k":"v",...} (input order) or returns 1.
json_flat() {
  local s=$1 n=${#1} i=0 out='{' sep='' key c e h
  ws() { while [ "$i" -lt "$n" ]; do case ${s:i:1} in ' '|$'\t'|$'\n'|$'\r') i=$((i+1));; *) break;; esac; done; }
  str() {
    REPLY=''; [ "${s:i:1}" = '"' ] || return 1; i=$((i+1))
    while [ "$i" -lt "$n" ]; do
      c=${s:i:1}
      case $c in
        '"') i=$((i+1)); return 0 ;;
        '\') e=${s:i+1:1}
             case $e in
               '"'|'\'|/|b|f|n|r|t) REPLY+="\\$e"; i=$((i+2)) ;;
               u) h=${s:i+2:4}; [[ $h =~ ^[0-9A-Fa-f]{4}$ ]] || return 1; REPLY+="\\u$h"; i=$((i+6)) ;;
               *) return 1 ;;
             esac ;;
        *) [[ $c == [[:cntrl:]] ]] && return 1; REPLY+=$c; i=$((i+1)) ;;
      esac
    done
    return 1
  }
  local -A seen=()
  ws; [ "${s:i:1}" = '{' ] || return 1; i=$((i+1)); ws
  if [ "${s:i:1}" = '}' ]; then i=$((i+1)); else
    while :; do
      str || return 1; key=$REPLY; [ -n "$key" ] || return 1
      [ -z "${seen[$key]+x}" ] || return 1; seen[$key]=1
      ws; [ "${s:i:1}" = ':' ] || return 1; i=$((i+1)); ws
      str || return 1; out+="$sep\"$key\":\"$REPLY\""; sep=','; ws
      case ${s:i:1} in ',') i=$((i+1)); ws ;; '}') i=$((i+1)); break ;; *) return 1 ;; esac
    done
  fi
  ws; [ "$i" -eq "$n" ] || return 1
  printf '%s}' "$out"
}

sealed() { [ -e "$STATE/sealed" ]; }
DENIED="Code: 403. Errors: * permission denied"
audit() { printf '%s\n' "$*" >> "$STATE/auth.log"; }
tokhash() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
# auth: sets WHO to "root" (the root token) or to the policies of a created token; else 403.
auth() {
  [ -s "$STATE/token" ] || die "Vault is not initialized"
  sealed && die "error performing token check: Vault is sealed"
  [ -n "${VAULT_TOKEN:-}" ] || die "$DENIED"
  if [ "$VAULT_TOKEN" = "$(cat "$STATE/token")" ]; then WHO=root; return 0; fi
  local f; f="$STATE/tokens/$(tokhash "$VAULT_TOKEN")"
  [ -f "$f" ] || die "$DENIED"
  WHO=$(cat "$f")
}
# allow CAP PATH: returns when WHO is root or one of its policies grants CAP on exactly PATH; else 403.
allow() {
  local cap=$1 p=$2 pol line re='^path "([^"]+)" [{] capabilities = [[](.*)[]] [}]$'
  if [ "$WHO" = root ]; then audit "$cap $p by root"; return 0; fi
  for pol in $WHO; do
    [ -f "$STATE/policies/$pol" ] || continue
    while IFS= read -r line; do
      [[ $line =~ $re ]] && [ "${BASH_REMATCH[1]}" = "$p" ] || continue
      [[ ${BASH_REMATCH[2]} == *"\"$cap\""* ]] && { audit "$cap $p by $WHO"; return 0; }
    done < "$STATE/policies/$pol"
  done
  audit "$cap $p DENIED for $WHO"
  die "$DENIED"
}
root_only() { # root_only WHAT
  [ "$WHO" = root ] && { audit "$1 by root"; return 0; }
  audit "$1 DENIED for $WHO"; die "$DENIED"
}
# kv_args ARGS...: sets FORMAT, MOUNT, KPATH, REST (positional args after the path)
kv_args() {
  FORMAT=table MOUNT='' KPATH='' REST=()
  while [ $# -gt 0 ]; do
    case $1 in
      -format=*) FORMAT=${1#-format=} ;;
      -mount=*) MOUNT=${1#-mount=} ;;
      -) break ;;
      -*) die "fake vault: unsupported flag $1" ;;
      *) break ;;
    esac
    shift
  done
  [ $# -gt 0 ] || die "fake vault: missing path"
  KPATH=$1; shift; REST=("$@")
  [[ $MOUNT =~ ^[A-Za-z0-9_-]+$ ]] || die "fake vault: needs -mount=<mount>"
  [[ $KPATH =~ ^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$ && $KPATH != *..* ]] || die "fake vault: invalid path $KPATH"
  FILE="$STATE/data/$MOUNT/$KPATH.json"
}

case "${1:-} ${2:-} ${3:-}" in
  "status "*)
    shift; fmt=table; [ "${1:-}" = -format=json ] && fmt=json
    init=true; [ -s "$STATE/token" ] || init=false
    s=false; sealed && s=true
    if [ "$fmt" = json ]; then printf '{"type":"fake","initialized":%s,"sealed":%s,"t":3,"n":5}\n' "$init" "$s"
    else
      printf 'Key             Value\n---             -----\nSeal Type       fake (test stand-in)\n'
      printf 'Initialized     %s\nSealed          %s\nTotal Shares    5\nThreshold       3\n' "$init" "$s"
    fi
    [ "$s" = false ] || exit 2 ;;
  "kv put "*)
    shift 2; kv_args "$@"; auth
    [ "${REST[*]:-}" = - ] || die "fake vault: only 'kv put -mount=M PATH -' (a JSON object on stdin) is supported"
    if [ -f "$FILE" ]; then allow update "$MOUNT/data/$KPATH"; else allow create "$MOUNT/data/$KPATH"; fi
    data=$(json_flat "$(cat)") || die "failed to parse JSON input: expected one object of string values"
    mkdir -p "$(dirname "$FILE")"
    v=1; [ ! -f "$FILE.version" ] || v=$(( $(cat "$FILE.version") + 1 ))
    tmp=$(mktemp "$FILE.XXXXXX"); printf '%s\n' "$data" > "$tmp"; chmod 0600 "$tmp"; mv -f "$tmp" "$FILE"
    printf '%s\n' "$v" > "$FILE.version"
    printf 'Success! Data written to: %s/data/%s (version %s)\n' "$MOUNT" "$KPATH" "$v" ;;
  "kv get "*)
    shift 2; kv_args "$@"; auth; allow read "$MOUNT/data/$KPATH"
    [ -f "$FILE" ] || { printf 'No value found at %s/data/%s\n' "$MOUNT" "$KPATH" >&2; exit 2; }
    if [ "$FORMAT" = json ]; then
      printf '{"request_id":"fake","data":{"data":%s,"metadata":{"version":%s}}}\n' \
        "$(cat "$FILE")" "$(cat "$FILE.version")"
    else printf '====== Data ======\n'; sed 's/^{//; s/}$//; s/","/"\n"/g' "$FILE"; printf '\n'; fi ;;
  "kv metadata delete")
    shift 3; kv_args "$@"; auth; allow delete "$MOUNT/metadata/$KPATH"
    rm -f "$FILE" "$FILE.version"
    printf 'Success! Data deleted (if it existed) at: %s/metadata/%s\n' "$MOUNT" "$KPATH" ;;
  "policy write "*)
    shift 2; [ $# = 2 ] || die "fake vault: only 'policy write NAME -|FILE' is supported"
    name=$1; [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || die "fake vault: invalid policy name $name"
    auth; root_only "policy write $name"
    if [ "$2" = - ]; then text=$(cat); else text=$(cat -- "$2"); fi
    re='^path "[^"]+" [{] capabilities = [[]"[a-z]+"(, "[a-z]+")*[]] [}]$'
    while IFS= read -r line; do
      [ -z "$line" ] || [[ $line == '#'* ]] || [[ $line =~ $re ]] ||
        die "failed to parse policy: fake vault: unsupported line: $line"
    done <<< "$text"
    mkdir -p "$STATE/policies"; printf '%s\n' "$text" > "$STATE/policies/$name"
    printf 'Success! Uploaded policy: %s\n' "$name" ;;
  "token create"*)
    shift 2; pols=() field='' display=''
    while [ $# -gt 0 ]; do
      case $1 in
        -orphan) ;;
        -policy=*) p=${1#-policy=}; pols+=("$p")
          [[ $p =~ ^[A-Za-z0-9_.-]+$ ]] || die "fake vault: invalid policy name $p" ;;
        -ttl=*|-period=*|-explicit-max-ttl=*) ;;
        -display-name=*) display=${1#-display-name=} ;;
        -field=token) field=token ;;
        *) die "fake vault: unsupported token create argument $1" ;;
      esac
      shift
    done
    [ ${#pols[@]} -gt 0 ] || die "fake vault: token create needs -policy="
    auth; root_only "token create ${pols[*]}"
    new="fake-scoped-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    mkdir -p "$STATE/tokens"; printf '%s\n' "${pols[*]}" > "$STATE/tokens/$(tokhash "$new")"
    if [ "$field" = token ]; then printf '%s\n' "$new"
    else
      printf 'Key               Value\n---               -----\ntoken             %s\n' "$new"
      printf 'token_policies    ["default" "%s"]\ndisplay_name      %s\n' "${pols[*]}" "token-$display"
    fi ;;
  "token lookup "*)
    shift 2; [ $# = 0 ] || die "fake vault: only 'token lookup' (self) is supported"
    auth; audit "lookup-self by $WHO"
    printf 'Key         Value\n---         -----\npolicies    [%s]\n' "$WHO" ;;
  "token revoke -self")
    auth; [ "$WHO" != root ] || die "fake vault: refusing to revoke the root token"
    audit "revoke-self by $WHO"; rm -f "$STATE/tokens/$(tokhash "$VAULT_TOKEN")"
    printf 'Success! Revoked token (if it existed)\n' ;;
  *) die "fake vault: unsupported command: $*" ;;
esac
CLI
  chmod 0755 "$BIN"
}

write_health() {
  cat <<'HEALTH' | sed "s|@STATE@|$STATE|" > "$HEALTH"
#!/usr/bin/env bash
# FAKE VAULT health endpoint (test stand-in, see tests/bed/fake-vault.sh); one HTTP request on stdin.
STATE='@STATE@'
read -r -t 5 _request || exit 0
while IFS= read -r -t 5 h; do h=${h%$'\r'}; [ -z "$h" ] && break; done
if [ ! -s "$STATE/token" ]; then code='501 Not Implemented' body='{"initialized":false,"sealed":true,"standby":false}'
elif [ -e "$STATE/sealed" ]; then
  code='503 Service Unavailable' body='{"initialized":true,"sealed":true,"standby":false}'
else code='200 OK' body='{"initialized":true,"sealed":false,"standby":false}'; fi
printf 'HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' \
  "$code" "${#body}" "$body"
HEALTH
  chmod 0755 "$HEALTH"
}

start_server() {
  local listen="TCP-LISTEN:$PORT,bind=127.0.0.1,fork,reuseaddr"
  if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
    printf '%s\n' '[Unit]' 'Description=FAKE Vault health endpoint (test stand-in, not HashiCorp Vault)' '[Service]' \
      "ExecStart=/usr/bin/socat $listen EXEC:$HEALTH" 'Restart=always' '[Install]' 'WantedBy=multi-user.target' \
      > /etc/systemd/system/fake-vault.service
    systemctl daemon-reload; systemctl enable --now fake-vault.service >/dev/null 2>&1
    systemctl restart fake-vault.service
  else
    stop_server
    setsid nohup socat "$listen" "EXEC:$HEALTH" >/dev/null 2>&1 < /dev/null &
    echo $! > "$STATE/socat.pid"
  fi
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/v1/sys/health" && return 0; sleep 0.1; done
  echo "fake-vault.sh: the health endpoint did not come up on 127.0.0.1:$PORT" >&2; exit 1
}

stop_server() {
  if [ -s "$STATE/socat.pid" ]; then kill "$(cat "$STATE/socat.pid")" 2>/dev/null || true; rm -f "$STATE/socat.pid"; fi
}

case $cmd in
  install)
    mkdir -p "$(dirname "$BIN")" "$(dirname "$HEALTH")" "$STATE/data" "$STATE/policies" "$STATE/tokens"
    chmod 0700 "$STATE"
    write_cli; write_health
    touch "$STATE/calls.log" "$STATE/auth.log"; chmod 0600 "$STATE/calls.log" "$STATE/auth.log"
    if [ ! -s "$STATE/token" ]; then
      (umask 077; printf 'fake-%s\n' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" > "$STATE/token")
    fi
    [ "$SERVER" = 0 ] || start_server
    echo "fake-vault.sh: FAKE vault installed at $BIN (state $STATE)" >&2 ;;
  stop) stop_server ;;
  seal) touch "$STATE/sealed" ;;
  unseal) rm -f "$STATE/sealed" ;;
  *) echo "usage: fake-vault.sh install|stop|seal|unseal [--root DIR] [--port N] [--no-server]" >&2; exit 2 ;;
esac
