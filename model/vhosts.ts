/**
 * Stack sections `proxy` (the Caddy container and its main file) and `vhosts` (one site file
 * each): zod shapes, cross-field checks with field paths, and the derived CaddySpec.
 * The "domain has a record in our zones" cross-check is done by the caller (model/services.ts).
 */
import { z } from "zod";
import type { Problem } from "./types";
import { isDnsLabel, isDnsName, joinPath, MESSAGES, plainAbsPath, port } from "./primitives";

/** Where Caddy keeps certificates and ACME state (global `storage file_system` root). */
export const CADDY_DATA_ROOT = "/opt/gbo/data/caddy";

/** `tls`: exactly one of `acmeEmail` (production: Let's Encrypt) or `internal: true` (offline test bed). */
const tlsSchema = z
  .object({
    /** ACME account e-mail: the snippet becomes `tls <acmeEmail>`. */
    acmeEmail: z.string().email("must be an e-mail address like admin@example.com").optional(),
    /** Caddy's own local CA: the snippet becomes `tls internal`. */
    internal: z.literal(true, { errorMap: () => ({ message: "must be true (or leave it out)" }) }).optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if ((t.acmeEmail === undefined) === (t.internal === undefined)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: "must set exactly one of acmeEmail or internal: true",
      });
    }
  });

/** Stack key `proxy`: the container running Caddy and the files the program owns in it. */
export const proxySectionSchema = z
  .object({
    /** Container that runs Caddy. */
    container: z.string().default("proxy"),
    /** TLS snippet `tls_config`: `{ acmeEmail }` in prod, `{ internal: true }` on the test bed. */
    tls: tlsSchema,
    /** Folder of the per-vhost files (`<sitesDir>/<vhost>.caddy`), imported by (so written into) the main file. */
    sitesDir: plainAbsPath.default("/etc/caddy/sites"),
    /**
     * The main Caddyfile; never inside sitesDir. Missing or written by the program (managed
     * header): the program writes it (global block, tls_config snippet, import of the sites).
     * Any other file (a hand-built proxy's, e.g. /opt/gbo/conf/config) is never rewritten: the
     * program only adds one `import <sitesDir>/*.caddy` line to it.
     */
    mainFile: plainAbsPath.default("/etc/caddy/Caddyfile"),
    /** systemd unit running Caddy in the container (started when it is not running). */
    service: z
      .string()
      .regex(/^[A-Za-z0-9@_.-]+$/, "must be a systemd unit name")
      .default("caddy"),
    /**
     * Opt-in: when caddy is missing in the proxy container, the tenant preflight installs it from
     * the container's own Debian package sources (`apt-get install caddy`) instead of failing.
     */
    install: z.boolean().default(false),
  })
  .strict();

/** One site: public name → upstream container:port. */
export const vhostSchema = z
  .object({
    /** Explicit FQDN; default: the tenant's name for the vhost label (chat → chat.<zone suffix>). */
    domain: z.string().optional(),
    /** Where the site is proxied to: a container of the tenant and a port it exposes. */
    upstream: z.object({ container: z.string(), port }).strict(),
    /** The domain has, on purpose, no record in the tenant's zones (served by another DNS). */
    servedElsewhere: z.boolean().default(false),
    /**
     * The domain already has a site block in the main file (or a file it imports outside
     * sitesDir): move it to this vhost's site file (the block is removed from its file, with a
     * dated backup, in the same validated reload). Without it such a vhost is refused.
     */
    takeOver: z.boolean().default(false),
  })
  .strict();

/** Stack key `vhosts`: vhost label → site. */
export const vhostsSectionSchema = z.record(vhostSchema);

export type ProxySection = z.output<typeof proxySectionSchema>;
export type VhostsSection = z.output<typeof vhostsSectionSchema>;

/** The `tls_config` snippet's mode. */
export type CaddyTls = { readonly kind: "acme"; readonly email: string } | { readonly kind: "internal" };

/** The Caddy container and the files the program owns in it. */
export interface CaddyProxySpec {
  readonly container: string;
  /** The container's IPv4 (where NAT sends 80/443). */
  readonly ip: string;
  readonly tls: CaddyTls;
  readonly sitesDir: string;
  readonly mainFile: string;
  /** `storage file_system` root. */
  readonly dataRoot: string;
  /** systemd unit running Caddy. */
  readonly service: string;
  /** Install a missing caddy from the container's package sources (the preflight does it). */
  readonly install: boolean;
}

/** One derived site. */
export interface VhostSpec {
  /** The vhost label: names the component and the file. */
  readonly key: string;
  readonly domain: string;
  readonly upstreamContainer: string;
  readonly upstreamIp: string;
  readonly upstreamPort: number;
  /** No record in our zones on purpose. */
  readonly servedElsewhere: boolean;
  /** Move an existing site block of the domain (outside sitesDir) into this site file. */
  readonly takeOver: boolean;
  /** The site's `tls` line (the proxy's mode: each site file is self-sufficient). */
  readonly tls: CaddyTls;
  /** `<sitesDir>/<key>.caddy` inside the proxy container. */
  readonly file: string;
}

export interface CaddySpec {
  readonly proxy: CaddyProxySpec;
  /** Sorted by key. */
  readonly vhosts: readonly VhostSpec[];
}

export interface CheckVhostsInput {
  /** The parsed `proxy` section (undefined when the stack has none). */
  proxy: ProxySection | undefined;
  /** The parsed `vhosts` section (undefined when the stack has none). */
  vhosts: VhostsSection | undefined;
  /** Container name → ports it exposes. */
  containers: ReadonlyMap<string, readonly number[]>;
  /** The tenant's public name of a label (chat → chat.stage.example.com). */
  domainOf: (label: string) => string;
}

export interface DeriveVhostsInput {
  /** The parsed `proxy` section (undefined when the stack has none). */
  proxy: ProxySection | undefined;
  /** The parsed `vhosts` section. */
  vhosts: VhostsSection | undefined;
  /** Container name → IPv4. */
  ips: ReadonlyMap<string, string>;
  /** The tenant's public name of a label. */
  domainOf: (label: string) => string;
}

/** The file of vhost `key` in the (normalised) sites folder. */
export const siteFilePath = (sitesDir: string, key: string): string => joinPath(sitesDir, `${key}.caddy`);

/** The effective domain of a vhost. */
export const vhostDomain = (
  label: string,
  v: { domain?: string },
  domainOf: (label: string) => string,
): string => v.domain ?? domainOf(label);

/** Cross-field rules of `proxy` + `vhosts`, with field paths and exact messages. */
export function checkVhosts(input: CheckVhostsInput): Problem[] {
  const problems: Problem[] = [];
  const vhosts = input.vhosts ?? {};
  if (input.proxy === undefined) {
    if (Object.keys(vhosts).length > 0)
      problems.push({ path: "proxy", message: "is required when vhosts are declared" });
  } else if (!input.containers.has(input.proxy.container)) {
    problems.push({ path: "proxy.container", message: `no container named "${input.proxy.container}"` });
  }
  const owners = new Map<string, string>();
  for (const [label, v] of Object.entries(vhosts)) {
    const path = `vhosts.${label}`;
    if (!isDnsLabel(label)) {
      problems.push({ path, message: `vhost name ${MESSAGES.dnsLabel}` });
      continue;
    }
    const ports = input.containers.get(v.upstream.container);
    if (ports === undefined)
      problems.push({
        path: `${path}.upstream.container`,
        message: `no container named "${v.upstream.container}"`,
      });
    else if (!ports.includes(v.upstream.port))
      problems.push({
        path: `${path}.upstream.port`,
        message: `container "${v.upstream.container}" does not expose port ${v.upstream.port}`,
      });
    const domain = vhostDomain(label, v, input.domainOf);
    if (!isDnsName(domain)) {
      problems.push({
        path: `${path}.domain`,
        message: `"${domain}" is not a valid DNS name (lower-case labels separated by dots, like chat.example.com)`,
      });
      continue;
    }
    const owner = owners.get(domain);
    if (owner !== undefined)
      problems.push({ path: `${path}.domain`, message: `${domain} is already served by vhost "${owner}"` });
    else owners.set(domain, label);
  }
  return problems;
}

/** Derivation (call only when checkVhosts found nothing); undefined when the stack has no proxy. */
export function deriveVhosts(input: DeriveVhostsInput): CaddySpec | undefined {
  const p = input.proxy;
  if (p === undefined) return undefined;
  const ipOf = (name: string): string => {
    const ip = input.ips.get(name);
    if (ip === undefined)
      throw new Error(`deriveVhosts: no container named "${name}" (run checkVhosts first)`);
    return ip;
  };
  const tls: CaddyTls =
    p.tls.acmeEmail !== undefined ? { kind: "acme", email: p.tls.acmeEmail } : { kind: "internal" };
  const vhosts = input.vhosts ?? {};
  return {
    proxy: {
      container: p.container,
      ip: ipOf(p.container),
      tls,
      sitesDir: p.sitesDir,
      mainFile: p.mainFile,
      dataRoot: CADDY_DATA_ROOT,
      service: p.service,
      install: p.install,
    },
    vhosts: Object.keys(vhosts)
      .sort()
      .map((key) => {
        const v = vhosts[key];
        return {
          key,
          domain: vhostDomain(key, v, input.domainOf),
          upstreamContainer: v.upstream.container,
          upstreamIp: ipOf(v.upstream.container),
          upstreamPort: v.upstream.port,
          servedElsewhere: v.servedElsewhere,
          takeOver: v.takeOver,
          tls,
          file: siteFilePath(p.sitesDir, key),
        };
      }),
  };
}
