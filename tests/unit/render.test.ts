import { parseTenant } from "../../model";
import { chainLines, dnatLines, guardLines } from "../../render/iptables";
import { natLine, renderNatRule } from "../../render/nat";
import { renderChains, renderForwarding, renderGuard, renderPersistence } from "../../render/host";
import { containerHash, renderContainer } from "../../render/container";
import { baseTenant, stackTenant } from "./fixtures";
import { netnsUnavailable, ThrowawayNetns } from "./netns";

const spec = (() => {
  const raw = baseTenant();
  raw.nat.push({ ports: [5432], to: "tables", sources: ["203.0.113.64/26", "198.51.100.0/24"] });
  return parseTenant(raw);
})();
const rule = (key: string) => spec.nat.find((r) => r.key === key)!;

describe("iptables lines (exact, iptables-save canonical form)", () => {
  test("DNAT of a public rule", () => {
    expect(dnatLines(spec, rule("tcp-443"))).toEqual([
      "-A ITN-acme-PRE -d 203.0.113.10/32 -i eth0 -p tcp -m tcp --dport 443 " +
        '-m comment --comment "incus-tenant:acme:tcp-443" -j DNAT --to-destination 10.0.2.10:443',
    ]);
  });
  test("DNAT with sources: one line per source, sorted", () => {
    expect(dnatLines(spec, rule("tcp-5432"))).toEqual([
      "-A ITN-acme-PRE -s 198.51.100.0/24 -d 203.0.113.10/32 -i eth0 -p tcp -m tcp --dport 5432 " +
        "-m comment --comment " +
        '"incus-tenant:acme:tcp-5432" -j DNAT --to-destination 10.0.2.12:5432',
      "-A ITN-acme-PRE -s 203.0.113.64/26 -d 203.0.113.10/32 -i eth0 -p tcp -m tcp --dport 5432 " +
        "-m comment --comment " +
        '"incus-tenant:acme:tcp-5432" -j DNAT --to-destination 10.0.2.12:5432',
    ]);
  });
  test("udp rule", () => {
    expect(dnatLines(spec, rule("udp-53"))).toEqual([
      "-A ITN-acme-PRE -d 203.0.113.10/32 -i eth0 -p udp -m udp --dport 53 " +
        '-m comment --comment "incus-tenant:acme:udp-53" -j DNAT --to-destination 10.0.2.22:53',
    ]);
  });
  test("jumps and masquerade", () => {
    expect(chainLines(spec)).toEqual({
      jumps: [
        '-A PREROUTING -i eth0 -m comment --comment "incus-tenant:acme:jump" -j ITN-acme-PRE',
        '-A POSTROUTING -m comment --comment "incus-tenant:acme:jump" -j ITN-acme-POST',
      ],
      masquerade: [
        '-A ITN-acme-POST -s 10.0.2.0/24 ! -d 10.0.2.0/24 -m comment --comment "incus-tenant:acme:masquerade" ' +
          "-j MASQUERADE",
      ],
    });
  });
  test("guard", () => {
    expect(guardLines(2222)).toEqual([
      '-A INPUT -i lo -m comment --comment "incus-tenant:guard" -j ACCEPT',
      '-A INPUT -p tcp -m tcp --dport 2222 -m comment --comment "incus-tenant:guard" -j ACCEPT',
    ]);
  });
  test("readable NAT line", () => {
    expect(natLine(rule("tcp-5432"))).toBe(
      "tcp/5432 -> tables 10.0.2.12:5432 (from 198.51.100.0/24, 203.0.113.64/26)",
    );
    expect(natLine(rule("udp-53"))).toBe("udp/53 -> dns 10.0.2.22:53 (from any)");
  });
});

describe("scripts (exact text)", () => {
  test(
    "NAT rule create script: under one lock, " +
      "converge and arm a new generation's watchdog when the lines changed",
    () => {
      expect(renderNatRule(spec, rule("tcp-443")).create).toBe(
        `# managed by incus-tenant: nat rule tcp/443 -> proxy 10.0.2.10:443 of tenant acme (rollback after 30s ` +
          `unless confirmed)
set -euo pipefail
log() { printf 'incus-tenant: %s\\n' "$*" >&2; }
rb=/var/lib/incus-tenant/rollback/acme-tcp-443; tag=incus-tenant:acme:tcp-443
mkdir -p "$rb"
{ exec 9>/run/incus-tenant.iptables.lock && flock -w 120 9; } || { log 'incus-tenant:acme:tcp-443: ` +
          `could not take the iptables lock /run/incus-tenant.iptables.lock within 120 s (another change is ` +
          `running); aborting, nothing changed'; exit 1; }
iptables -w -t nat -L ITN-acme-PRE -n >/dev/null 2>&1 || iptables -w -t nat -N ITN-acme-PRE
want=$(cat <<'ITN_EOF'
-A ITN-acme-PRE -d 203.0.113.10/32 -i eth0 -p tcp -m tcp --dport 443 ` +
          `-m comment --comment "incus-tenant:acme:tcp-443" -j DNAT --to-destination 10.0.2.10:443
ITN_EOF
)
have=$(iptables-save -t nat | grep -F -- "--comment \\"$tag\\"" || true)
pending=$(cat "$rb/pending" 2>/dev/null || true)
if [ -n "$pending" ] && [ "$have" != "$(cat "$rb/$pending.new" 2>/dev/null || true)" ]; then
  rm -f "$rb/pending"; log "$tag: the unconfirmed change $pending is no longer live; forgotten"; pending=""
fi
if [ "$have" = "$want" ] && [ -n "$pending" ]; then
  echo "rollback armed: $pending (still unconfirmed)"
  log "$tag: unchanged; the change $pending is still unconfirmed"
elif [ "$have" = "$want" ]; then
  log "$tag: unchanged"
else
  if [ -n "$pending" ]; then old=$(cat "$rb/$pending.old"); else old=$have; fi
  gen=$(( $(cat "$rb/gen" 2>/dev/null || echo 0) + 1 ))
  id="$gen-$(date -u +%Y%m%d%H%M%S)"
  printf '%s\\n' "$old" | grep . > "$rb/$id.old" || true
  printf '%s\\n' "$want" > "$rb/$id.new"
  printf '%s\\n' "$tag" > "$rb/tag"; echo "$gen" > "$rb/gen"
  if [ "$old" = "$want" ]; then rm -f "$rb/pending"; else echo "$id" > "$rb/pending"; fi
  { echo '*nat'; [ -z "$have" ] || printf '%s\\n' "$have" | sed 's/^-A /-D /'; [ -z "$want" ] ` +
          `|| printf '%s\\n' "$want"; echo COMMIT; } | iptables-restore -w --noflush || {
    if [ -n "$pending" ]; then echo "$pending" > "$rb/pending"; else rm -f "$rb/pending"; fi; exit 1
  }
  [ -z "$pending" ] || log "$tag: supersedes the unconfirmed change $pending (its watchdog stands down)"
  if [ "$old" = "$want" ]; then
    log "$tag: changed back to its last confirmed lines; nothing to confirm"
  else
    watchdog=$(cat <<'ITN_WATCHDOG'
rb=$1; id=$2; t=$3; tag=$4
log() { printf 'incus-tenant: %s\\n' "$*" >&2; logger -t incus-tenant "$*" 2>/dev/null || true; }
sleep "$t"
{ exec 9>/run/incus-tenant.iptables.lock && flock -w 120 9; } || { log 'incus-tenant:acme:tcp-443: watchdog: ` +
          `could not take the iptables lock /run/incus-tenant.iptables.lock within 120 s (another change is ` +
          `running); aborting, nothing changed'; exit 1; }
gen=$(cat "$rb/gen" 2>/dev/null || true)
if [ -e "$rb/$id.confirmed" ]; then log "$tag: watchdog $id: confirmed; nothing to do"; exit 0; fi
if [ "$gen" != "\${id%%-*}" ]; then
  log "$tag: watchdog $id: superseded by the newer generation $gen; leaving the rule alone"; exit 0
fi
if [ "$(cat "$rb/pending" 2>/dev/null || true)" != "$id" ]; then
  log "$tag: watchdog $id: no longer pending; leaving the rule alone"; exit 0
fi
cur=$(iptables-save -t nat | grep -F -- "--comment \\"$tag\\"" || true)
if [ "$cur" != "$(cat "$rb/$id.new")" ]; then
  rm -f "$rb/pending"
  log "$tag: watchdog $id: the rule was changed by something else since; leaving it alone"; exit 0
fi
old=$(cat "$rb/$id.old")
{ echo '*nat'; [ -z "$cur" ] || printf '%s\\n' "$cur" | sed 's/^-A /-D /'; [ -z "$old" ] || printf '%s\\n' "$old"; ` +
          `echo COMMIT; } | iptables-restore -w --noflush || { log "$tag: watchdog $id: iptables-restore failed"; ` +
          `exit 1; }
rm -f "$rb/pending"
date -u +%Y-%m-%dT%H:%M:%SZ > "$rb/$id.rolled-back"
mkdir -p /etc/iptables
tmp=$(mktemp /etc/iptables/rules.v4.XXXXXX)
iptables-save > "$tmp" || { rm -f "$tmp"; exit 1; }
for _p in /var/lib/incus-tenant/rollback/*/pending; do
  [ -f "$_p" ] || continue
  _d=\${_p%/pending}; _id=$(cat "$_p"); _tag=$(cat "$_d/tag" 2>/dev/null || true)
  { [ -n "$_tag" ] && [ -f "$_d/$_id.old" ] && [ -f "$_d/$_id.new" ]; } || continue
  [ "$(grep -F -- "--comment \\"$_tag\\"" "$tmp" || true)" = "$(cat "$_d/$_id.new")" ] || continue
  { awk -v c="--comment \\"$_tag\\"" -v f="$_d/$_id.old" '/^\\*/ { t = $0 } t == "*nat" && /^-A / ` +
          `&& index($0, c) { next } t == "*nat" && $0 == "COMMIT" { while ((getline l < f) > 0) print l } ` +
          `{ print }' "$tmp" > "$tmp.s" && mv -f "$tmp.s" "$tmp"; } \\
    || { rm -f "$tmp" "$tmp.s"; exit 1; }
done
{ chmod 0640 "$tmp" && mv -f "$tmp" /etc/iptables/rules.v4; } || { rm -f "$tmp"; exit 1; }
log "NAT change $tag rolled back: not confirmed within \${t}s"
ITN_WATCHDOG
)
    setsid nohup bash -c "$watchdog" watchdog "$rb" "$id" 30 "$tag" \\
      > /dev/null 2>> "$rb/$id.log" < /dev/null 9>&- &
    echo "rollback armed: $id (30s)"
    log "$tag: changed; the previous lines come back in 30s unless a new SSH connection confirms"
  fi
fi
exec 9>&-`,
      );
    },
  );
  test("every script starts with the managed-by header and strict mode", () => {
    const all = [
      renderForwarding(spec),
      renderChains(spec),
      renderGuard(spec),
      renderPersistence(),
      ...spec.containers.map((c) => renderContainer(spec, c)),
      ...spec.nat.map((r) => renderNatRule(spec, r)),
    ];
    for (const pair of all) {
      for (const text of [pair.create, pair.delete].filter((t): t is string => t !== undefined)) {
        expect(text.split("\n").slice(0, 2)).toEqual([
          expect.stringMatching(/^# managed by incus-tenant: /),
          "set -euo pipefail",
        ]);
      }
    }
  });
  test("container script: privileged flag, protection, reserved address, pre-change snapshot", () => {
    const system = spec.containers.find((c) => c.name === "system")!;
    const text = renderContainer(spec, system).create;
    expect(text).toContain(
      'incus init images:debian/12 "$name" -s default -c security.privileged=true -c security.protection.delete=true',
    );
    expect(text).toContain(`name=system; ip=10.0.2.11; hash=${containerHash(spec, system)}; restart=0`);
    expect(text).toContain(
      'snap="pre-change-$(date -u +%Y%m%d%H%M%S)"; incus snapshot create "$name" "$snap"',
    );
    expect(text).toContain(
      'incus config device add "$name" eth0 nic network=incusbr0 name=eth0 ipv4.address=10.0.2.11',
    );
    expect(renderContainer(spec, system).delete).toContain("refusing to delete protected container $name");
  });
  test("container hash changes with the config and ignores the image", () => {
    const base = parseTenant(baseTenant());
    const changed = baseTenant();
    changed.containers.proxy.privileged = true;
    const imageOnly = baseTenant();
    imageOnly.containers.proxy.image = "images:debian/13";
    const h = (s: ReturnType<typeof parseTenant>) =>
      containerHash(
        s,
        s.containers.find((c) => c.name === "proxy")!,
      );
    expect(h(parseTenant(changed))).not.toBe(h(base));
    expect(h(parseTenant(imageOnly))).toBe(h(base));
  });
  test("an unchanged config renders byte-identical scripts (no time, no randomness)", () => {
    const render = () => {
      const s = parseTenant(stackTenant("prod"));
      return JSON.stringify([
        renderForwarding(s),
        renderChains(s),
        renderGuard(s),
        renderPersistence(),
        s.containers.map((c) => renderContainer(s, c)),
        s.nat.map((r) => renderNatRule(s, r)),
      ]);
    };
    expect(render()).toBe(render());
  });
});

const skip = netnsUnavailable();
if (skip) process.stdout.write(`render.test: real iptables tests skipped: ${skip}\n`);
const real = skip ? describe.skip : describe;

real("rendered rules on a real iptables (throwaway network namespace)", () => {
  let ns: ThrowawayNetns;
  beforeAll(() => (ns = new ThrowawayNetns()));
  afterAll(() => ns.destroy());

  test("every rendered line passes iptables-restore --test", () => {
    const prod = parseTenant(stackTenant("prod"));
    const { jumps, masquerade } = chainLines(prod);
    const file = [
      "*nat",
      `:${prod.chains.prerouting} - [0:0]`,
      `:${prod.chains.postrouting} - [0:0]`,
      ...jumps,
      ...masquerade,
      ...prod.nat.flatMap((r) => dnatLines(prod, r)),
      "COMMIT",
      "*filter",
      ...guardLines(22),
      "COMMIT",
      "",
    ].join("\n");
    const r = ns.run("iptables-restore --test", file);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  test("apply, re-apply (unchanged), foreign rules survive, delete removes only ours", () => {
    ns.sh("iptables -t nat -A PREROUTING -p tcp --dport 8080 -j DNAT --to-destination 192.0.2.1:80");
    for (const pair of [
      renderChains(spec),
      renderGuard(spec),
      ...spec.nat.map((r) => renderNatRule(spec, r)),
    ]) {
      const r = ns.run(pair.create);
      expect(r.stderr).not.toContain("unchanged");
      expect(r.status).toBe(0);
    }
    const applied = ns.save("nat");
    expect(applied).toEqual(
      expect.arrayContaining([
        ...chainLines(spec).jumps,
        ...chainLines(spec).masquerade,
        ...spec.nat.flatMap((r) => dnatLines(spec, r)),
      ]),
    );
    expect(
      ns
        .save("filter")
        .filter((l) => l.startsWith("-A INPUT"))
        .slice(0, 2),
    ).toEqual(guardLines(22));
    // The NAT changes are not confirmed yet: rules.v4 (written by the chains and the guard) lacks them.
    expect(ns.persisted()).not.toContain(dnatLines(spec, rule("tcp-443"))[0]);

    const again = ns.run(renderNatRule(spec, rule("tcp-443")).create);
    expect(again.stderr).toContain("incus-tenant:acme:tcp-443: unchanged");
    expect(ns.save("nat")).toEqual(applied);

    expect(ns.run(renderNatRule(spec, rule("tcp-443")).delete!).status).toBe(0);
    const after = ns.save("nat");
    expect(after.filter((l) => l.includes("tcp-443"))).toEqual([]);
    expect(after).toContain("-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.1:80");
    expect(after).toEqual(expect.arrayContaining(dnatLines(spec, rule("tcp-80"))));

    for (const r of spec.nat) ns.run(renderNatRule(spec, r).delete!);
    expect(ns.run(renderChains(spec).delete!).status).toBe(0);
    const final = ns.save("nat");
    expect(final.filter((l) => l.includes("ITN-") || l.includes("incus-tenant"))).toEqual([]);
    expect(final).toContain("-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.1:80");
  });

  test("a changed destination replaces the rule in one step, nothing left behind", () => {
    const moved = baseTenant();
    moved.containers.proxy.ipv4 = "10.0.2.50";
    const s2 = parseTenant(moved);
    ns.run(renderNatRule(spec, rule("tcp-80")).create);
    ns.run(
      renderNatRule(
        s2,
        s2.nat.find((r) => r.key === "tcp-80")!,
      ).create,
    );
    expect(ns.save("nat").filter((l) => l.includes("incus-tenant:acme:tcp-80"))).toEqual(
      dnatLines(
        s2,
        s2.nat.find((r) => r.key === "tcp-80")!,
      ),
    );
  });

  test("guard moves above a DROP that was inserted first", () => {
    ns.sh("iptables -F INPUT && iptables -A INPUT -p tcp --dport 6379 -j DROP");
    expect(ns.run(renderGuard(spec).create).status).toBe(0);
    const input = ns.save("filter").filter((l) => l.startsWith("-A INPUT"));
    expect(input).toEqual([...guardLines(22), "-A INPUT -p tcp -m tcp --dport 6379 -j DROP"]);
    ns.sh("iptables -I INPUT 1 -p tcp --dport 9 -j DROP");
    const r = ns.run(renderGuard(spec).create);
    expect(r.status).toBe(0);
    expect(
      ns
        .save("filter")
        .filter((l) => l.startsWith("-A INPUT"))
        .slice(0, 2),
    ).toEqual(guardLines(22));
  });
});
