/** Host path helpers shared by the spec checks. */

/** A path without trailing slashes ("/" stays "/"). */
export const trimSlash = (p: string): string => p.replace(/\/+$/, "") || "/";
