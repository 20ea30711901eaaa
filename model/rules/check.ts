/** The shape of a cross-field rule. */
import type { ParsedTenant } from "../schema";
import type { Problem } from "../types";

/** A cross-field rule over the parsed config. */
export type Check = (t: ParsedTenant) => Problem[];
