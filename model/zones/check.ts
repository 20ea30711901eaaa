/** Semantic checks of a shape-valid `dns` section, with field paths. */
import { parseIpv4 } from "../net";
import type { Problem } from "../types";
import {
  bareLabelMessage,
  cmp,
  dnsNameError,
  fqdnOf,
  hostError,
  inZone,
  isBareLabel,
  rnameOf,
} from "./names";
import { rdata, targetOf, valueError } from "./records";
import type { DnsSection, RecordType } from "./schema";

/** Semantic problems of a shape-valid `dns` section, with field paths under `pathPrefix`. */
export function checkZones(dns: DnsSection, pathPrefix = "dns"): Problem[] {
  const problems: Problem[] = [];
  const add = (path: string, message: string): void =>
    void problems.push({ path: `${pathPrefix}.${path}`, message });
  const firstZone = Object.keys(dns.zones).sort(cmp)[0] ?? "example.com";
  const nameservers = dns.nameservers.map((ns, i) => {
    const e = hostError(ns);
    if (e !== undefined || ns === "@" || parseIpv4(ns) !== undefined)
      add(`nameservers[${i}]`, `"${ns}" is not a host name${e !== undefined ? `: ${e}` : ""}`);
    else if (isBareLabel(ns)) add(`nameservers[${i}]`, bareLabelMessage(ns, firstZone));
    return e === undefined ? ns.replace(/\.$/, "").toLowerCase() : undefined;
  });
  nameservers.forEach((ns, i) => {
    const first = nameservers.indexOf(ns);
    if (ns !== undefined && first < i) add(`nameservers[${i}]`, `duplicate of nameservers[${first}]`);
  });
  if (rnameOf(dns.hostmaster) === undefined)
    add(
      "hostmaster",
      `"${dns.hostmaster}" must be an e-mail address like hostmaster@example.com ` +
        "or a DNS name like hostmaster.example.com",
    );
  for (const [zone, z] of Object.entries(dns.zones)) {
    const zp = `zones.${zone}`;
    const ze = dnsNameError(zone);
    if (ze !== undefined || zone.endsWith(".")) {
      add(zp, `"${zone}" is not a valid zone name: ${ze ?? "drop the trailing dot"}`);
      continue;
    }
    if (zone !== zone.toLowerCase()) {
      add(zp, `zone names must be lower case: write "${zone.toLowerCase()}"`);
      continue;
    }
    /** Valid records: index, absolute owner, type, rdata. */
    const valid: { i: number; fqdn: string; type: RecordType; data: string }[] = [];
    z.records.forEach((r, i) => {
      const rp = `${zp}.records[${i}]`;
      let ok = true;
      const fail = (field: string, message: string): void => {
        ok = false;
        add(`${rp}.${field}`, message);
      };
      if (r.name !== "@") {
        const ne = dnsNameError(r.name);
        const lower = r.name.toLowerCase();
        if (ne !== undefined || r.name.endsWith("."))
          fail(
            "name",
            `"${r.name}" is not a valid record name: ` +
              (ne ?? 'names are relative to the zone ("@" for the apex), drop the trailing dot'),
          );
        else if (lower === zone || lower.endsWith(`.${zone}`))
          fail(
            "name",
            `names are relative to the zone: ` +
              `write "${lower === zone ? "@" : lower.slice(0, -zone.length - 1)}", not "${r.name}"`,
          );
        else if (`${r.name}.${zone}`.length > 253)
          fail("name", `"${r.name}.${zone}" is longer than 253 characters`);
      }
      if (r.name === "@" && r.type === "CNAME")
        fail("name", "a CNAME record is not allowed at the zone apex (@)");
      if (r.name === "@" && r.type === "NS")
        fail("name", `apex NS records come from ${pathPrefix}.nameservers`);
      const ve = valueError(r.type, r.value, zone);
      if (ve !== undefined) fail("value", ve);
      const wantsPriority = r.type === "MX" || r.type === "SRV";
      if (wantsPriority && r.priority === undefined)
        fail("priority", `an ${r.type} record needs a priority (0-65535)`);
      if (!wantsPriority && r.priority !== undefined)
        fail("priority", "priority is only used by MX and SRV records");
      if (ok) valid.push({ i, fqdn: fqdnOf(zone, r.name), type: r.type, data: rdata(zone, r) });
    });
    // Indexed by owner name (and by owner+type+data for duplicates): one pass, no scan per record.
    const unique: typeof valid = [];
    const firstOf = new Map<string, (typeof valid)[number]>();
    const byName = new Map<string, typeof valid>();
    for (const v of valid) {
      const key = `${v.fqdn} ${v.type} ${v.data}`;
      const first = firstOf.get(key);
      if (first) add(`${zp}.records[${v.i}]`, `duplicate of records[${first.i}]`);
      else {
        unique.push(v);
        firstOf.set(key, v);
        const same = byName.get(v.fqdn);
        if (same) same.push(v);
        else byName.set(v.fqdn, [v]);
      }
    }
    for (const c of unique.filter((u) => u.type === "CNAME")) {
      const other = (byName.get(c.fqdn) ?? []).find((u) => u !== c);
      if (other)
        add(
          `${zp}.records[${c.i}].name`,
          `"${z.records[c.i].name}" has a CNAME record, so it can have no other record ` +
            `(records[${other.i}] is type ${other.type})`,
        );
    }
    const hasAddress = (host: string): boolean =>
      (byName.get(host) ?? []).some((u) => u.type === "A" || u.type === "AAAA");
    for (const u of unique) {
      const target = targetOf(u.data, u.type);
      if (target !== undefined && inZone(zone, target) && !hasAddress(target))
        add(
          `${zp}.records[${u.i}].value`,
          `${target} is inside zone ${zone} but has no A or AAAA record there`,
        );
    }
    nameservers.forEach((ns, i) => {
      if (ns !== undefined && inZone(zone, ns) && !hasAddress(ns))
        add(`nameservers[${i}]`, `${ns} is inside zone ${zone} but has no A or AAAA record there`);
    });
  }
  return problems;
}
