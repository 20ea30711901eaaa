/**
 * The service kinds, one entry per kind (its folder holds everything kind-specific). Adding a
 * kind = one folder + one line here.
 */
import type { z } from "zod";
import type { TenantSpec } from "../model/types";
import type { ServiceKind } from "./kind";
import { caddyKind } from "./caddy";
import { dnsKind } from "./dns";
import { vaultKind } from "./vault";

/** Every service kind, in the order their outputs, plan keys, drift and resources appear. */
export const SERVICE_KINDS = [caddyKind, dnsKind, vaultKind] as const;

type Kinds = (typeof SERVICE_KINDS)[number];
type SpecOf<E> = E extends ServiceKind<string, infer S, z.ZodRawShape> ? S : never;
type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void
  ? I
  : never;

/** Derived, immutable service description (TenantSpec `services`): kind key → its spec. */
export type ServicesSpec = { readonly [E in Kinds as E["key"]]?: SpecOf<E> };

/** Zod shapes of every kind's stack sections (merged into the tenant schema). */
export type ServicesShape = UnionToIntersection<Kinds["shape"]>;

/** The kinds with their spec type erased (for code that iterates over all of them). */
export const ALL_KINDS: readonly ServiceKind[] = SERVICE_KINDS;

/** The derived spec of `kind` in `spec` (undefined when the stack does not use it). */
export const serviceOf = (spec: TenantSpec, kind: ServiceKind): unknown =>
  (spec.services as Readonly<Record<string, unknown>>)[kind.key];

/** Each kind the tenant uses with its derived spec, in registry order. */
export function usedKinds(spec: TenantSpec): { kind: ServiceKind; service: unknown }[] {
  return ALL_KINDS.flatMap((kind) => {
    const service = serviceOf(spec, kind);
    return service === undefined ? [] : [{ kind, service }];
  });
}
