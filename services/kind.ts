/**
 * What one service kind (Caddy, CoreDNS, Vault, ...) brings, DNSControl-provider style: every
 * kind lives in its own folder (services/<kind>/index.ts) and is listed once in
 * services/registry.ts; the stack schema, checks, derivation, components, plan, network plan,
 * live drift, secret keys and resource names all iterate over that list.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import type { Problem, TenantSpec } from "../model/types";
import type { PlanItem } from "../approval/networkPlan";
import type { DriftItem, LiveState } from "../drift/read";
import type { HostLink } from "../components/host";
import type { SecretConfig } from "../components/vaultPath";

/** A container of the tenant as the service checks and derivations see it. */
export interface ServiceContainer {
  readonly ipv4: string;
  readonly ports: readonly number[];
}

/** What a kind's check and derivation know of the tenant besides their own stack sections. */
export interface ServiceContext {
  /** The tenant's name. */
  readonly tenant: string;
  /** The tenant's containers by name. */
  readonly containers: ReadonlyMap<string, ServiceContainer>;
  /** A label's public name (`<label>.<zone suffix>`). */
  readonly domainOf: (label: string) => string;
}

/** How a kind's components are created: host link, parent, names, and the containers to wait on. */
export interface ServiceCreateArgs extends HostLink {
  /** The validated tenant. */
  readonly spec: TenantSpec;
  /** The Tenant (parent of every service component). */
  readonly parent: pulumi.ComponentResource;
  /** Prefix of child names (the tenant's name). */
  readonly name: string;
  /** The instance command of a container (empty when there is none): what a service waits on. */
  readonly instance: (container: string) => pulumi.Resource[];
  /** Secret stack config values named by `fromConfig` fields. */
  readonly secretConfig: SecretConfig;
}

/** A file `plan --live` reads in a container. */
export interface LiveFileRef {
  readonly container: string;
  readonly path: string;
}

/** Registers one resource (`tenantResources`) and returns its name. */
export type AddResource = (type: string, name: string, parent: string) => string;

/**
 * One service kind. `key` is its entry in TenantSpec.services, `Spec` its derived description,
 * `Shape` the zod shape of its stack sections (optional keys merged into the tenant schema).
 * Methods (not function properties) so every kind is a `ServiceKind` of unknown spec.
 */
export interface ServiceKind<
  K extends string = string,
  Spec = unknown,
  Shape extends z.ZodRawShape = z.ZodRawShape,
> {
  readonly key: K;
  /** Zod shapes of the kind's stack sections (each optional). */
  readonly shape: Shape;
  /** Rules of the kind's own sections, with field paths. */
  check(sections: z.infer<z.ZodObject<Shape>>, ctx: ServiceContext): Problem[];
  /** The derived spec (undefined when the stack does not use the kind); called only without problems. */
  derive(sections: z.infer<z.ZodObject<Shape>>, ctx: ServiceContext): Spec | undefined;
  /** Creates the kind's components; returns the program outputs it adds (plain ones hold no secret). */
  create(spec: Spec, args: ServiceCreateArgs): Record<string, pulumi.Input<unknown>>;
  /** Its `plan --json` keys; never any secret value. */
  plan(spec: Spec): Record<string, unknown>;
  /** Its network-plan categories (approved changes). */
  networkPlan?(spec: Spec): Record<string, PlanItem[]>;
  /** Files `plan --live` reads. */
  liveFiles?(spec: Spec): LiveFileRef[];
  /** Folders `plan --live` lists (`*.caddy`). */
  liveDirs?(spec: Spec): LiveFileRef[];
  /** Live drift of the kind's files. */
  drift?(spec: Spec, tenant: TenantSpec, live: LiveState): DriftItem[];
  /** Type of the Tenant child owning each drift kind's command (for `plan --live` URNs). */
  driftParents?(): Record<string, string>;
  /** Secret config keys the kind needs, with the stack field naming each. */
  secretKeys?(spec: Spec): { key: string; field: string }[];
  /** Every resource the kind registers below the Tenant named `tenant`. */
  resources(spec: Spec, tenant: string, add: AddResource): void;
}
