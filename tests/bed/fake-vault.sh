#!/usr/bin/env bash
# ============================================================================================
#  FAKE VAULT - a TEST STAND-IN for HashiCorp Vault. It is NOT Vault and protects nothing.
# ============================================================================================
# Why: neither HashiCorp Vault nor OpenBao can be installed on the development machines (no
# download, not in the Debian registry), yet the program's Vault paths must be tested end to end.
# This script installs, inside a Debian test-bed container (or under --root DIR for unit tests):
#   <root>/usr/local/bin/vault   a bash `vault` CLI with just what the program uses:
#       vault status [-format=json]                     exit 0 unsealed, 2 sealed (like Vault)
#       vault kv put [-cas=N] -mount=M PATH -           JSON object of flat strings on stdin; -cas=0: only
#                                                       when the path does not exist, N: only at version N
#       vault kv patch [-method=patch|rw] [-cas=N] -mount=M PATH -
#                                                       merges the keys on stdin into the existing data
#                                                       (patch: the "patch" capability; rw: read + update;
#                                                       none: patch, else rw with Vault's warning); 404 on
#                                                       a path that does not exist
#       vault kv get [-format=json] -mount=M PATH       printed like Vault (indented, keys sorted, <>& as
#                                                       \u003c..): {"data":{"data":{..},"metadata":{.."version":N}}}
#       vault kv get -format=json -field=K -mount=M PATH
#                                                       the value as a JSON string; exit 1 and
#                                                       'Field "K" not present in secret' when absent
#       vault kv metadata delete -mount=M PATH          removes every version
#       vault policy write NAME -|FILE                  (root only) a policy of one-line rules:
#                                                       path "M/data/P" { capabilities = ["create", "update"] }
#       vault token create [-orphan] -policy=NAME... [-ttl=T] [-display-name=D] [-field=token]
#                                                       (root only) a token holding those policies
#       vault token lookup                              exit 0 for a valid token (lookup-self)
#       vault token revoke -self                        revokes a created token (never the root one)
#     Every call needs VAULT_TOKEN (except status): the root token (<state>/token) may do anything;
#     a created token may only do what its policies grant, with exactly the capability Vault checks
#     (kv put: create, or update when the path exists; kv patch: patch; kv metadata delete: delete on
#     M/metadata/P; kv get: read). Anything else is refused with Vault's 403. Data, policies and tokens (by
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

# json_parse TEXT: one flat JSON object of string values into JK (keys) and JV (values, escapes
# kept verbatim), input order; returns 1 on anything else (duplicate keys included).
json_parse() {
  local s=$1 n=${#1} i=0 key c e h
  JK=() JV=()
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
      str || return 1; JK+=("$key"); JV+=("$REPLY"); ws
      case ${s:i:1} in ',') i=$((i+1)); ws ;; '}') i=$((i+1)); break ;; *) return 1 ;; esac
    done
  fi
  ws; [ "$i" -eq "$n" ]
}
# compact: JK/JV as {"k":"v",...}
compact() {
  local out='{' sep='' j
  for j in "${!JK[@]}"; do out+="$sep\"${JK[j]}\":\"${JV[j]}\""; sep=','; done
  printf '%s}' "$out"
}
# json_flat TEXT: prints TEXT as compact {"k":"v",...} (input order) or returns 1.
json_flat() { json_parse "$1" || return 1; compact; }
# go_str V: the JSON string as Vault's Go encoder prints it (<, >, & escaped as \u003c...).
go_str() { local v=$1; v=${v//</\\u003c}; v=${v//>/\\u003e}; v=${v//&/\\u0026}; printf '"%s"' "$v"; }
# load: the stored object of FILE into JK/JV
load() { json_parse "$(cat "$FILE")" || die "fake vault: corrupt data file $FILE"; }
# field_of KEY: sets REPLY to the stored (escaped) value of KEY; returns 1 when absent
field_of() { local j; for j in "${!JK[@]}"; do [ "${JK[j]}" = "$1" ] && { REPLY=${JV[j]}; return 0; }; done; return 1; }
# pretty VERSION: `kv get -format=json` the way Vault prints it (json.MarshalIndent: keys of maps sorted)
pretty() {
  local j k sep=''
  printf '{\n  "request_id": "fake",\n  "lease_id": "",\n  "lease_duration": 0,\n  "renewable": false,\n'
  if [ ${#JK[@]} = 0 ]; then printf '  "data": {\n    "data": {},\n'
  else
    printf '  "data": {\n    "data": {\n'
    while IFS= read -r k; do
      field_of "$k"; printf '%s      "%s": %s' "$sep" "$k" "$(go_str "$REPLY")"; sep=$',\n'
    done < <(printf '%s\n' "${JK[@]}" | sort)
    printf '\n    },\n'
  fi
  printf '    "metadata": {\n      "created_time": "%s",\n      "custom_metadata": null,\n' "$(cat "$FILE.time" 2>/dev/null || echo 1970-01-01T00:00:00Z)"
  printf '      "deletion_time": "",\n      "destroyed": false,\n      "version": %s\n    }\n  },\n' "$1"
  printf '  "warnings": null\n}\n'
}
# store: JK/JV as the new version of FILE (0600, atomic), prints the new version
store() {
  local v=1 tmp
  mkdir -p "$(dirname "$FILE")"
  [ ! -f "$FILE.version" ] || v=$(( $(cat "$FILE.version") + 1 ))
  tmp=$(mktemp "$FILE.XXXXXX"); compact > "$tmp"; printf '\n' >> "$tmp"; chmod 0600 "$tmp"; mv -f "$tmp" "$FILE"
  printf '%s\n' "$v" > "$FILE.version"; date -u +%Y-%m-%dT%H:%M:%S.000000000Z > "$FILE.time"
  REPLY=$v
}
version() { if [ -f "$FILE.version" ]; then cat "$FILE.version"; else echo 0; fi; }
# cas_check VERB: with -cas=N, refuses unless the current version is N (N=0: the path must not exist)
cas_check() {
  [ -n "$CAS" ] || return 0
  [ "$(version)" = "$CAS" ] ||
    die2 "Error writing data to $MOUNT/data/$KPATH: Error making API request.
URL: $1 ${VAULT_ADDR:-}/v1/$MOUNT/data/$KPATH
Code: 400. Errors:
* check-and-set parameter did not match the current version"
}
die2() { printf '%s\n' "$*" >&2; exit 2; }

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
# can CAP PATH: 0 when WHO is root or one of its policies grants CAP on exactly PATH (audited either way).
can() {
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
  return 1
}
# allow CAP PATH: returns when `can`; else Vault's 403.
allow() { can "$1" "$2" || die "$DENIED"; }
root_only() { # root_only WHAT
  [ "$WHO" = root ] && { audit "$1 by root"; return 0; }
  audit "$1 DENIED for $WHO"; die "$DENIED"
}
# kv_args ARGS...: sets FORMAT, MOUNT, CAS, METHOD, FIELD, KPATH, REST (positional args after the path)
kv_args() {
  FORMAT=table MOUNT='' CAS='' METHOD='' FIELD='' KPATH='' REST=()
  while [ $# -gt 0 ]; do
    case $1 in
      -format=*) FORMAT=${1#-format=} ;;
      -mount=*) MOUNT=${1#-mount=} ;;
      -cas=*) CAS=${1#-cas=}; [[ $CAS =~ ^(0|[1-9][0-9]*)$ ]] || die "fake vault: invalid -cas $CAS" ;;
      -method=*) METHOD=${1#-method=} ;;
      -field=*) FIELD=${1#-field=} ;;
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
    [ "${REST[*]:-}" = - ] || die "fake vault: only 'kv put [-cas=N] -mount=M PATH -' (a JSON object on stdin) is supported"
    [ -z "$METHOD" ] || die "fake vault: kv put has no -method flag"
    if [ -f "$FILE" ]; then allow update "$MOUNT/data/$KPATH"; else allow create "$MOUNT/data/$KPATH"; fi
    json_parse "$(cat)" || die "failed to parse JSON input: expected one object of string values"
    cas_check PUT
    store
    printf 'Success! Data written to: %s/data/%s (version %s)\n' "$MOUNT" "$KPATH" "$REPLY" ;;
  "kv patch "*)
    shift 2; kv_args "$@"; auth
    [ "${REST[*]:-}" = - ] ||
      die "fake vault: only 'kv patch [-method=patch|rw] [-cas=N] -mount=M PATH -' (JSON on stdin) is supported"
    json_parse "$(cat)" || die "Failed to parse K=V data: expected one object of string values"
    NK=("${JK[@]}") NV=("${JV[@]}")
    [ "$CAS" != 0 ] || CAS='' # like Vault: -cas=0 (or none) sends no check-and-set on a patch
    rw() { # the CLI's read/local update/write: read + update, check-and-set on the version read
      allow read "$MOUNT/data/$KPATH"
      [ -f "$FILE" ] || die2 "No value found at $MOUNT/data/$KPATH"
      allow update "$MOUNT/data/$KPATH"; CAS=$(version)
    }
    case $METHOD in
      patch) allow patch "$MOUNT/data/$KPATH" ;;
      rw) rw ;;
      '') if ! can patch "$MOUNT/data/$KPATH"; then
            printf 'WARNING! Data was written to %s/data/%s but we recommend that you add the "patch" capability %s\n' \
              "$MOUNT" "$KPATH" "to your ACL policy in order to use HTTP PATCH in the future." >&2
            rw
          fi ;;
      *) die2 "Unsupported method provided to -method flag: $METHOD" ;;
    esac
    [ -f "$FILE" ] || die2 "Error writing data to $MOUNT/data/$KPATH: Error making API request.
URL: PATCH ${VAULT_ADDR:-}/v1/$MOUNT/data/$KPATH
Code: 404. Errors:"
    cas_check PATCH
    load
    for j in "${!NK[@]}"; do
      found=0
      for i in "${!JK[@]}"; do [ "${JK[i]}" = "${NK[j]}" ] && { JV[i]=${NV[j]}; found=1; break; }; done
      [ "$found" = 1 ] || { JK+=("${NK[j]}"); JV+=("${NV[j]}"); }
    done
    store
    printf 'Success! Data patched at: %s/data/%s (version %s)\n' "$MOUNT" "$KPATH" "$REPLY" ;;
  "kv get "*)
    shift 2; kv_args "$@"; auth; allow read "$MOUNT/data/$KPATH"
    [ -f "$FILE" ] || { printf 'No value found at %s/data/%s\n' "$MOUNT" "$KPATH" >&2; exit 2; }
    [ -z "$CAS$METHOD" ] || die "fake vault: kv get has no -cas or -method flag"
    load
    if [ -n "$FIELD" ]; then
      [ "$FORMAT" = json ] || die "fake vault: -field is supported only with -format=json"
      field_of "$FIELD" || { printf 'Field "%s" not present in secret\n' "$FIELD" >&2; exit 1; }
      go_str "$REPLY"; [ ! -t 1 ] || printf '\n' # like Vault's PrintRaw: a newline only on a terminal
    elif [ "$FORMAT" = json ]; then pretty "$(version)"
    else printf '====== Data ======\n'; sed 's/^{//; s/}$//; s/","/"\n"/g' "$FILE"; printf '\n'; fi ;;
  "kv metadata delete")
    shift 3; kv_args "$@"; auth; allow delete "$MOUNT/metadata/$KPATH"
    rm -f "$FILE" "$FILE.version" "$FILE.time"
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
