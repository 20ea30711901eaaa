/**
 * The TypeScript twin of the zone script's awk reader (render/zone/parse.ts), for `plan --live`:
 * the same rules, the same output (tests/unit/zone-soa.test.ts checks that both agree on every
 * layout), so the drift names the records an apply would refuse to drop.
 */
import { managedHeader } from "../../render/shell";

const TTL_RE = /^(?:[0-9]+|(?:[0-9]+[SsMmHhDdWw])+)$/;
const CLASS_RE = /^(?:IN|CH|HS|CS|CLASS[0-9]+)$/i;

/** True when the zone file starts with the program's managed header (the program wrote it). */
export const writtenByProgram = (content: string): boolean => content.startsWith(managedHeader("", ";"));

/** Splits one logical record (comments and parentheses already gone) into tokens; quotes kept. */
function tokens(s: string): string[] {
  const out: string[] = [];
  let t = "";
  let q = false;
  let intok = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) {
      t += c;
      if (c === "\\") t += s[++i] ?? "";
      else if (c === '"') q = false;
    } else if (c === " " || c === "\t") {
      if (intok) out.push(t);
      t = "";
      intok = false;
    } else {
      t += c;
      intok = true;
      if (c === '"') q = true;
      else if (c === "\\") t += s[++i] ?? "";
    }
  }
  if (intok) out.push(t);
  return out;
}

/** Logical records of a master file: [text without comments and parentheses, owner left blank]. */
function logicalRecords(content: string): [string, boolean][] {
  const out: [string, boolean][] = [];
  let depth = 0;
  let rec = "";
  let blank = false;
  for (const raw of content.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (depth === 0) {
      rec = "";
      blank = /^[ \t]/.test(line);
    }
    let q = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (q) {
        rec += c;
        if (c === "\\") rec += line[++i] ?? "";
        else if (c === '"') q = false;
        continue;
      }
      if (c === ";") break;
      if (c === "(" || c === ")") {
        depth = c === "(" ? depth + 1 : Math.max(0, depth - 1);
        rec += " ";
        continue;
      }
      rec += c;
      if (c === '"') q = true;
      else if (c === "\\") rec += line[++i] ?? "";
    }
    if (depth > 0) rec += " ";
    else out.push([rec, blank]);
  }
  if (depth > 0) out.push([rec, blank]);
  return out;
}

/**
 * What `zparse` prints for a zone file with origin `zone`: the first SOA serial, and every other
 * record as `owner TYPE rdata` (and `$INCLUDE` / `$GENERATE` lines as they are).
 */
export function readZoneFile(content: string, zone: string): { serial?: string; records: string[] } {
  let origin = `${zone.toLowerCase()}.`;
  let owner = "";
  let serial: string | undefined;
  const records: string[] = [];
  const abs = (n: string): string =>
    n === "@" ? origin : n.toLowerCase().endsWith(".") ? n.toLowerCase() : `${n.toLowerCase()}.${origin}`;
  const num = (t = ""): string => (/^[0-9]+$/.test(t) ? String(Number(t)) : t);
  const quoted = (t = ""): string => (t.startsWith('"') ? t : `"${t}"`);
  for (const [rec, blank] of logicalRecords(content)) {
    const tok = tokens(rec);
    if (tok.length === 0) continue;
    if (!blank && tok[0].startsWith("$")) {
      const d = tok[0].toUpperCase();
      if (d === "$ORIGIN" && tok.length >= 2) origin = abs(tok[1]);
      else if (d !== "$TTL") records.push([d, ...tok.slice(1)].join(" "));
      continue;
    }
    let i = 0;
    if (!blank) owner = abs(tok[i++]);
    else if (owner === "") owner = origin;
    while (i < tok.length && (TTL_RE.test(tok[i]) || CLASS_RE.test(tok[i]))) i++;
    if (i >= tok.length) continue;
    const type = tok[i++].toUpperCase();
    const r = tok.slice(i);
    if (type === "SOA") {
      serial ??= r[2] ?? "";
      continue;
    }
    const data = ["NS", "CNAME", "DNAME", "PTR"].includes(type)
      ? abs(r[0] ?? "")
      : type === "MX"
        ? `${num(r[0])} ${abs(r[1] ?? "")}`
        : type === "SRV"
          ? `${num(r[0])} ${num(r[1])} ${num(r[2])} ${r[3] === "." ? "." : abs(r[3] ?? "")}`
          : type === "TXT" || type === "SPF"
            ? (r.length === 0 ? [""] : r).map(quoted).join(" ")
            : type === "CAA"
              ? `${num(r[0])} ${(r[1] ?? "").toLowerCase()} ${quoted(r[2])}`
              : type === "AAAA"
                ? (r[0] ?? "").toLowerCase()
                : r.join(" ");
    records.push(`${owner} ${type} ${data}`);
  }
  return { serial, records };
}

/** Records of `live` that `want` (both zone files of `zone`) does not hold, each once, in file order. */
export function recordsNotIn(live: string, want: string, zone: string): string[] {
  const wanted = new Set(readZoneFile(want, zone).records);
  return [...new Set(readZoneFile(live, zone).records)].filter((r) => !wanted.has(r));
}
