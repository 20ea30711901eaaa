/**
 * The zone-file reader the zone script runs with `awk` on the host (POSIX awk: mawk, gawk and
 * BusyBox run it; the dns container needs no BIND tool). It reads any valid master-file layout:
 * the SOA on one line or parenthesised over several, comments (`;` outside quotes), `$TTL`,
 * `$ORIGIN` (absolute or relative), owners left blank (the previous owner), TTL and class in
 * either order or absent, upper or lower case, CRLF line ends.
 *
 * - `zparse serial` prints the serial of the first SOA record (nothing when there is none).
 * - `zparse records` prints every other record as `owner TYPE rdata`: the owner absolute and
 *   lower case, TTL and class dropped, host names in the rdata absolute and lower case, numbers
 *   without leading zeros, TXT and CAA strings quoted. Each `$INCLUDE` / `$GENERATE` line is
 *   printed as it is (its records cannot be read here, so they never count as listed).
 *
 * The script compares the records of the live file with those of the file it would write, both
 * read by this same program, so the comparison does not depend on how either file is laid out.
 */

/** The awk program (no single quote in it: it is passed single-quoted). */
export const ZONE_AWK = [
  "function abs(n) {",
  '  if (n == "@") return origin',
  "  n = tolower(n)",
  "  if (n ~ /\\.$/) return n",
  '  return n "." origin',
  "}",
  "function num(t) { return (t ~ /^[0-9]+$/) ? t + 0 : t }",
  'function quoted(t) { return (substr(t, 1, 1) == "\\"") ? t : "\\"" t "\\"" }',
  "function isttl(t) { return t ~ /^[0-9]+$/ || t ~ /^([0-9]+[SsMmHhDdWw])+$/ }",
  "function isclass(t) {",
  "  t = toupper(t)",
  '  return t == "IN" || t == "CH" || t == "HS" || t == "CS" || t ~ /^CLASS[0-9]+$/',
  "}",
  "function tokens(s,    i, c, t, q, intok, n) {",
  '  split("", tok); n = 0; t = ""; q = 0; intok = 0',
  "  for (i = 1; i <= length(s); i++) {",
  "    c = substr(s, i, 1)",
  "    if (q) {",
  '      t = t c; if (c == "\\\\") { i++; t = t substr(s, i, 1) } else if (c == "\\"") q = 0',
  "      continue",
  "    }",
  '    if (c == " " || c == "\\t") { if (intok) { tok[++n] = t; t = ""; intok = 0 } continue }',
  "    t = t c; intok = 1",
  '    if (c == "\\"") q = 1; else if (c == "\\\\") { i++; t = t substr(s, i, 1) }',
  "  }",
  "  if (intok) tok[++n] = t",
  "  return n",
  "}",
  "function record(s, blank,    n, i, k, d, type, r) {",
  "  n = tokens(s)",
  "  if (n == 0) return",
  '  if (!blank && substr(tok[1], 1, 1) == "$") {',
  "    d = toupper(tok[1])",
  '    if (d == "$ORIGIN" && n >= 2) origin = abs(tok[2])',
  '    else if (d != "$TTL" && mode == "records") {',
  '      r = d; for (k = 2; k <= n; k++) r = r " " tok[k]; print r',
  "    }",
  "    return",
  "  }",
  "  i = 1",
  '  if (!blank) { owner = abs(tok[1]); i = 2 } else if (owner == "") owner = origin',
  "  while (i <= n && (isttl(tok[i]) || isclass(tok[i]))) i++",
  "  if (i > n) return",
  "  type = toupper(tok[i]); i++",
  '  if (type == "SOA") { if (mode == "serial" && !found) { found = 1; print tok[i + 2] } return }',
  '  if (mode != "records") return',
  '  if (type == "NS" || type == "CNAME" || type == "DNAME" || type == "PTR") r = abs(tok[i])',
  '  else if (type == "MX") r = num(tok[i]) " " abs(tok[i + 1])',
  '  else if (type == "SRV") r = num(tok[i]) " " num(tok[i + 1]) " " num(tok[i + 2]) " " \\',
  '    (tok[i + 3] == "." ? "." : abs(tok[i + 3]))',
  '  else if (type == "TXT" || type == "SPF") {',
  '    r = quoted(tok[i]); for (k = i + 1; k <= n; k++) r = r " " quoted(tok[k])',
  "  }",
  '  else if (type == "CAA") r = num(tok[i]) " " tolower(tok[i + 1]) " " quoted(tok[i + 2])',
  '  else if (type == "AAAA") r = tolower(tok[i])',
  '  else { r = tok[i]; for (k = i + 1; k <= n; k++) r = r " " tok[k] }',
  '  print owner " " type " " r',
  "}",
  'BEGIN { origin = tolower(origin); depth = 0; rec = "" }',
  "{",
  '  line = $0; sub(/\\r$/, "", line)',
  '  if (depth == 0) { rec = ""; blank = (line ~ /^[ \\t]/) }',
  "  q = 0",
  "  for (i = 1; i <= length(line); i++) {",
  "    c = substr(line, i, 1)",
  "    if (q) {",
  '      rec = rec c; if (c == "\\\\") { i++; rec = rec substr(line, i, 1) } else if (c == "\\"") q = 0',
  "      continue",
  "    }",
  '    if (c == ";") break',
  '    if (c == "(") { depth++; rec = rec " "; continue }',
  '    if (c == ")") { if (depth > 0) depth--; rec = rec " "; continue }',
  "    rec = rec c",
  '    if (c == "\\"") q = 1; else if (c == "\\\\") { i++; rec = rec substr(line, i, 1) }',
  "  }",
  '  if (depth > 0) { rec = rec " "; next }',
  "  record(rec, blank)",
  "}",
  "END { if (depth > 0) record(rec, blank) }",
].join("\n");

/**
 * The script line defining `zparse MODE` (reads stdin; the zone's origin is "$zone.", the
 * variable every zone script sets).
 */
export const zparseFunction = (): string => `zparse() { awk -v mode="$1" -v origin="$zone." '${ZONE_AWK}'; }`;
