/**
 * Cross-field rules of the runbooks, as pure checks over the parsed (shape-valid) config.
 * Each returns problems with field paths; none throws.
 */
import { checkFiles } from "../files";
import { checkMigration } from "../migration";
import { checkServices } from "../services";
import type { Check } from "./check";
import { checkCiRunner, checkContainerNames, checkDevices } from "./containers";
import { checkNat } from "./nat";
import { checkAddresses, checkHost, checkNetwork } from "./network";

export type { Check } from "./check";
export {
  checkCiRunner,
  checkContainerNames,
  checkDevices,
  CI_CONTAINER,
  HOST_SYSTEM_PATHS,
} from "./containers";
export { checkNat, SENSITIVE_PORTS, sourcesCoverAll } from "./nat";
export { checkAddresses, checkHost, checkNetwork, RESERVED_NETWORKS } from "./network";

/** Every cross-field rule, in reporting order. */
export const RULES: readonly Check[] = [
  checkContainerNames,
  checkNetwork,
  checkAddresses,
  checkDevices,
  checkCiRunner,
  checkNat,
  checkHost,
  checkServices,
  checkFiles,
  checkMigration,
];
