/**
 * incus-tenant: reads the stack config, validates it (nothing runs on a bad config), and builds
 * one Tenant. Outputs are plain and secret-free: container IPs and the NAT table.
 */
import * as pulumi from "@pulumi/pulumi";
import { parseTenant } from "./spec";
import { checkSecretsPresent } from "./spec/secrets";
import { Tenant } from "./components/tenant";

const config = new pulumi.Config("incus-tenant");
const spec = parseTenant(config.requireObject<unknown>("tenant"));
checkSecretsPresent(spec, (key) => config.getSecret(key) !== undefined);
const tenant = new Tenant(spec.name, {
  spec,
  sshPrivateKey: config.requireSecret("sshPrivateKey"),
  secretConfig: (key) => config.requireSecret(key),
});

export const stack = pulumi.getStack();
export const environment = spec.environment;
export const hostnames = spec.hostnames;
export const containerIps = tenant.containerIps;
export const natTable = tenant.natTable;
export const services = tenant.services;
