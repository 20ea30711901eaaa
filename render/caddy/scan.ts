/**
 * Finding (and cutting) the site blocks of one domain in a Caddyfile the program did not write:
 * the main file and every file it imports outside the sites folder. Two programs run in the
 * proxy container: {@link SITE_SCAN_AWK} (POSIX awk, mawk-compatible) reads one file, and
 * {@link SITE_SCAN_SH} (POSIX sh) follows its `import`s. Both are passed as arguments, never
 * spliced into shell text, so no value of the stack reaches them as code.
 *
 * Parsing, on purpose the subset Caddy's own lexer agrees with for hand-written files: `#`
 * comments (at a line's start or after a blank), blocks opened by a line's last token `{` and
 * closed by a `}` token; at depth 0 a block's header is a site address list (comma and/or blank
 * separated, continued on the next line after a trailing comma) unless it is the global options
 * block (`{` alone) or a snippet / named route (`(name)`, `&(name)`). An address matches the
 * domain when, lower-cased and stripped of scheme (`https://`), port (`:443`), path and a
 * trailing dot, it equals it; wildcards (`*.example.com`) never match (Caddy prefers the exact
 * host anyway).
 */

/**
 * The awk program. Variables: `dom` (the domain), `mode`:
 * - `scan`: prints `site<TAB>start<TAB>end<TAB>addresses` for each site block listing `dom`
 *   (lines 1-based, addresses as written, joined by ", "), and `import<TAB>pattern` for each
 *   top-level `import` of a file (not of a snippet defined before it);
 * - `cut`: prints the file without `dom`: a block listing only `dom` is dropped whole (header
 *   to closing brace), a block listing other addresses too keeps them (its header is rewritten
 *   as `a, b {`).
 */
export const SITE_SCAN_AWK = String.raw`function norm(a) {
  a = tolower(a)
  sub(/^[a-z][a-z0-9+.-]*:\/\//, "", a)
  sub(/\/.*$/, "", a)
  sub(/:[0-9]*$/, "", a)
  sub(/\.$/, "", a)
  return a
}
function header(h,    n, t, i, a, keep, all) {
  hit = 0; keep = ""; all = ""; kind = "site"
  n = split(h, t, /[ \t,]+/)
  for (i = 1; i <= n; i++) {
    a = t[i]
    if (a == "" || a == "{") continue
    if (a ~ /^&?\(/) { kind = "snippet"; name = a; sub(/^&?\(/, "", name); sub(/\).*$/, "", name); snip[name] = 1 }
    all = all (all == "" ? "" : ", ") a
    if (norm(a) == dom) hit = 1; else keep = keep (keep == "" ? "" : ", ") a
  }
  if (all == "") kind = "global"
  if (kind != "site") hit = 0
  addrs = all; rest = keep
}
BEGIN { depth = 0; h = ""; hb = ""; skip = 0; cur = 0 }
{
  raw = $0; l = raw
  sub(/^[ \t]*#.*$/, "", l); sub(/[ \t]+#.*$/, "", l)
  n = split(l, t)
  if (depth == 0) {
    if (h == "" && n == 0) { if (mode == "cut") print raw; next }
    if (h == "" && t[1] == "import") {
      if (n >= 2 && !(t[2] in snip)) { if (mode == "scan") print "import\t" t[2] }
      if (mode == "cut") print raw
      next
    }
    if (h == "") hs = NR
    h = h " " l; hb = hb (hb == "" ? "" : "\n") raw
    if (n > 0 && t[n] == "{") {
      header(h)
      for (i = 1; i <= n; i++) { if (t[i] == "{") depth++; else if (t[i] == "}") depth-- }
      cur = hit
      if (mode == "cut") {
        if (!hit) print hb
        else if (rest != "") print rest " {"
        else skip = 1
      }
      h = ""; hb = ""
      next
    }
    if (n > 0 && t[n] ~ /,$/) next
    if (mode == "cut") print hb
    h = ""; hb = ""
    next
  }
  for (i = 1; i <= n; i++) { if (t[i] == "{") depth++; else if (t[i] == "}") depth-- }
  if (depth < 0) depth = 0
  if (mode == "cut" && !skip) print raw
  if (depth == 0) {
    if (cur && mode == "scan") print "site\t" hs "\t" NR "\t" addrs
    cur = 0; skip = 0
  }
}
END { if (mode == "cut" && hb != "") print hb }
`;

/**
 * The sh program: `sh -c "$SITE_SCAN_SH" scan <main file> <sites folder> <domain> <awk program>`.
 * Prints `site<TAB>file<TAB>start<TAB>end<TAB>addresses` for each block of the domain in the main
 * file and the files it imports (relative patterns from the importing file's folder, globs
 * expanded, paths made canonical, each file once, at most 200), skipping the sites folder (the program's own files).
 * Exit 3 with a message when a file cannot be read.
 */
export const SITE_SCAN_SH = String.raw`main=$1 dom=$3 prog=$4 seen='|' count=0 tab=$(printf '\t')
sites=$(readlink -f -- "$2" || printf %s "$2")
scan_file() {
  local out dir kind a b c pat g
  case "$seen" in *"|$1|"*) return 0 ;; esac
  seen="$seen$1|"; count=$((count + 1))
  [ "$count" -le 200 ] || { echo "more than 200 imported files from $main" >&2; exit 3; }
  [ -r "$1" ] || { echo "cannot read $1" >&2; exit 3; }
  out=$(awk -v dom="$dom" -v mode=scan "$prog" "$1") || { echo "cannot parse $1" >&2; exit 3; }
  dir=$(dirname -- "$1")
  while IFS="$tab" read -r kind a b c; do
    case "$kind" in
      site) printf 'site\t%s\t%s\t%s\t%s\n' "$1" "$a" "$b" "$c" ;;
      import)
        case "$a" in /*) pat=$a ;; *) pat=$dir/$a ;; esac
        for g in $pat; do
          [ -f "$g" ] || continue
          g=$(readlink -f -- "$g")
          case "$g" in "$sites"/*) continue ;; esac
          scan_file "$g"
        done ;;
    esac
  done <<SCAN_EOF
$out
SCAN_EOF
}
scan_file "$main"
`;
