/**
 * incus-tenant: reads the stack config, validates it (nothing runs on a bad config), and builds
 * one Tenant. Outputs are plain and secret-free: container IPs and the NAT table.
 */
import * as pulumi from "@pulumi/pulumi";
import { parseTenant } from "./model";
import { checkSecretsPresent } from "./model/secrets";
import { Tenant } from "./components/tenant";

const config = new pulumi.Config("incus-tenant");
// The stack name too: a stack named prod or stage must have that environment.
const spec = parseTenant(config.requireObject<unknown>("tenant"), { stack: pulumi.getStack() });
checkSecretsPresent(spec, (key) => config.getSecret(key) !== undefined);
const tenant = new Tenant(spec.name, {
  spec,
  sshPrivateKey: config.requireSecret("sshPrivateKey"),
  secretConfig: (key) => config.requireSecret(key),
  approval: {
    // The last applied network plan: this stack's own output, read through a self reference.
    previous: new pulumi.StackReference(
      `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`,
    ).getOutput("networkPlan"),
    approve: config.get("approveNetworkPlan"),
    allowMassChange: config.getBoolean("allowMassChange") ?? false,
  },
});

export const stack = pulumi.getStack();
export const environment = spec.environment;
export const hostnames = spec.hostnames;
export const containerIps = tenant.containerIps;
export const natTable = tenant.natTable;
export const services = tenant.services;
/** The applied network plan (NAT, guard, vhosts, zone records): the next run diffs against it. */
export const networkPlan = tenant.networkPlan;
