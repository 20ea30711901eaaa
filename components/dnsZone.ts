/**
 * DnsZone (one per zone: its zone file in the dns container) and Corefile (the server blocks of
 * every zone). The serial is computed on the host when the script runs, so the inputs only
 * change when the zone's content does.
 */
import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import type { DnsSpec, ZoneSpec } from "../model/zones";
import { renderCorefileScripts, renderZoneScripts } from "../render/zone";
import { after, commandArgs, HostLink } from "./host";
import { childName, componentName, TYPES } from "./names";

export interface DnsZoneArgs {
  /** The dns section (container, Corefile path, sync hook). */
  dns: DnsSpec;
  /** This zone, from `dns.zones`. */
  zone: ZoneSpec;
  /** How to reach the host (from Host). */
  host: HostLink;
}

/**
 * DnsZone (`incus-tenant:dns:DnsZone`): `<name>-zone` writes one zone file (serial bumped only
 * on change). Waits on `opts.dependsOn` (the dns container's instance command).
 */
export class DnsZone extends pulumi.ComponentResource {
  /** Zone name, e.g. "example.com". */
  readonly zoneName: string;
  /** Path of the zone file inside the dns container. */
  readonly file: string;
  /** The command that writes the zone file (serial bumped only on change). */
  readonly command: remote.Command;

  constructor(name: string, args: DnsZoneArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.dnsZone, name, {}, opts);
    this.zoneName = args.zone.name;
    this.file = args.zone.file;
    this.command = new remote.Command(
      childName.zoneFile(name),
      commandArgs(args.host, renderZoneScripts(args.dns, args.zone)),
      { parent: this, dependsOn: after(opts) },
    );
    this.registerOutputs({ zoneName: this.zoneName, file: this.file });
  }
}

export interface CorefileArgs {
  /** The dns section: every zone gets a server block. */
  dns: DnsSpec;
  /** How to reach the host (from Host). */
  host: HostLink;
}

/**
 * Corefile (`incus-tenant:dns:Corefile`): `<name>-corefile` writes the Corefile and sends
 * SIGUSR1 when it changed. Waits on `opts.dependsOn` (the dns container and every zone).
 */
export class Corefile extends pulumi.ComponentResource {
  /** Path of the Corefile inside the dns container. */
  readonly path: string;
  /** The command that writes the Corefile and sends SIGUSR1 when it changed. */
  readonly command: remote.Command;

  constructor(name: string, args: CorefileArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.corefile, name, {}, opts);
    this.path = args.dns.corefile;
    this.command = new remote.Command(
      childName.corefileFile(name),
      commandArgs(args.host, renderCorefileScripts(args.dns)),
      { parent: this, dependsOn: after(opts) },
    );
    this.registerOutputs({ path: this.path });
  }
}

/** The wiring helper's arguments: how to reach the host (HostLink), and where the components go. */
export interface CreateDnsArgs extends HostLink {
  /** The derived dns section. */
  dns: DnsSpec;
  /** Parent of the components (the Tenant). */
  parent: pulumi.ComponentResource;
  /** The tenant's name (components are named by components/names.ts). */
  name: string;
  /** What must exist first (the dns container's instance command). */
  dependsOn: pulumi.Resource[];
}

/**
 * Zones first, then the Corefile (so a new server block never points at a missing file; a
 * removed zone's block goes with the Corefile update before Pulumi deletes the zone file).
 */
export function createDns(args: CreateDnsArgs): { corefile: Corefile; zones: DnsZone[] } {
  const { dns, parent, name: tenant, dependsOn } = args;
  const host: HostLink = { connection: args.connection, sudo: args.sudo };
  const zones = dns.zones.map(
    (zone) =>
      new DnsZone(componentName.dnsZone(tenant, zone.name), { dns, zone, host }, { parent, dependsOn }),
  );
  const corefile = new Corefile(
    componentName.corefile(tenant),
    { dns, host },
    { parent, dependsOn: [...dependsOn, ...zones.map((z) => z.command)] },
  );
  return { corefile, zones };
}
