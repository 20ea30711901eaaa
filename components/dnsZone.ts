/**
 * DnsZone (one per zone: its zone file in the dns container) and Corefile (the server blocks of
 * every zone). The serial is computed on the host when the script runs, so the inputs only
 * change when the zone's content does.
 */
import * as pulumi from "@pulumi/pulumi";
import { remote, types } from "@pulumi/command";
import type { DnsSpec, ZoneSpec } from "../spec/zones";
import { renderCorefileScripts, renderZoneScripts } from "../render/zone";
import { commandArgs } from "./host";

export interface DnsZoneArgs {
  /** The dns section (container, Corefile path, sync hook). */
  dns: DnsSpec;
  /** This zone, from `dns.zones`. */
  zone: ZoneSpec;
  /** SSH connection to the host. */
  connection: types.input.remote.ConnectionArgs;
  /** Run through sudo. */
  sudo: boolean;
}

export class DnsZone extends pulumi.ComponentResource {
  /** Zone name, e.g. "example.com". */
  readonly zoneName: string;
  /** Path of the zone file inside the dns container. */
  readonly file: string;
  /** The command that writes the zone file (serial bumped only on change). */
  readonly command: remote.Command;

  constructor(name: string, args: DnsZoneArgs, opts?: pulumi.ComponentResourceOptions) {
    super("incus-tenant:dns:DnsZone", name, {}, opts);
    this.zoneName = args.zone.name;
    this.file = args.zone.file;
    this.command = new remote.Command(
      `${name}-zone`,
      commandArgs(args.connection, renderZoneScripts(args.dns, args.zone), args.sudo),
      { parent: this, dependsOn: opts?.dependsOn },
    );
    this.registerOutputs({ zoneName: this.zoneName, file: this.file });
  }
}

export interface CorefileArgs {
  /** The dns section: every zone gets a server block. */
  dns: DnsSpec;
  /** SSH connection to the host. */
  connection: types.input.remote.ConnectionArgs;
  /** Run through sudo. */
  sudo: boolean;
}

export class Corefile extends pulumi.ComponentResource {
  /** Path of the Corefile inside the dns container. */
  readonly path: string;
  /** The command that writes the Corefile and sends SIGUSR1 when it changed. */
  readonly command: remote.Command;

  constructor(name: string, args: CorefileArgs, opts?: pulumi.ComponentResourceOptions) {
    super("incus-tenant:dns:Corefile", name, {}, opts);
    this.path = args.dns.corefile;
    this.command = new remote.Command(
      `${name}-corefile`,
      commandArgs(args.connection, renderCorefileScripts(args.dns), args.sudo),
      { parent: this, dependsOn: opts?.dependsOn },
    );
    this.registerOutputs({ path: this.path });
  }
}

export interface CreateDnsArgs {
  /** The derived dns section. */
  dns: DnsSpec;
  /** SSH connection to the host. */
  connection: types.input.remote.ConnectionArgs;
  /** Run through sudo. */
  sudo: boolean;
  /** Parent of the components (the Tenant). */
  parent: pulumi.ComponentResource;
  /** Prefix of the component names (the tenant's name). */
  name: string;
  /** What must exist first (the dns container's instance command). */
  dependsOn: pulumi.Resource[];
}

/** Child name of a zone: dots become hyphens ("example.com" -> "<name>-zone-example-com"). */
export const zoneResourceName = (name: string, zone: string): string =>
  `${name}-zone-${zone.replace(/\./g, "-")}`;

/**
 * Zones first, then the Corefile (so a new server block never points at a missing file; a
 * removed zone's block goes with the Corefile update before Pulumi deletes the zone file).
 */
export function createDns(args: CreateDnsArgs): { corefile: Corefile; zones: DnsZone[] } {
  const { dns, connection, sudo, parent, name, dependsOn } = args;
  const zones = dns.zones.map(
    (zone) =>
      new DnsZone(zoneResourceName(name, zone.name), { dns, zone, connection, sudo }, { parent, dependsOn }),
  );
  const corefile = new Corefile(
    `${name}-corefile`,
    { dns, connection, sudo },
    { parent, dependsOn: [...dependsOn, ...zones.map((z) => z.command)] },
  );
  return { corefile, zones };
}
