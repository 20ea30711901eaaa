/**
 * What the put command of one Vault path does with each key, and how the values travel on its
 * stdin. Pure: key names and policies go into the command text (what `pulumi preview` diffs);
 * values go only to stdin.
 */
import type { VaultKeySpec, VaultPathSpec } from "../../model/vault";
import { oneLine } from "../shell";

/**
 * How a key is written:
 * - `adopt`: a `generate` key without rotate: written only when the path has no value for it;
 * - `rotate`: a `generate` key with a rotate token: written when the path's value differs from
 *   the generated one (a new token gives a new RandomPassword, so a new value is written once);
 * - `set`: a `value` or `fromConfig` key: written when the path's value differs (the stack asks
 *   for that value).
 */
export type KeyPolicy = "adopt" | "rotate" | "set";

/** The write policy of one key. */
export function keyPolicy(k: VaultKeySpec): KeyPolicy {
  if (k.source.kind !== "generate") return "set";
  return k.source.rotate !== undefined ? "rotate" : "adopt";
}

/** `name=policy` (`name=rotate:<token>` for a rotated key), as shown in the command text. */
export const keyLabel = (k: VaultKeySpec): string => {
  const s = k.source;
  return s.kind === "generate" && s.rotate !== undefined
    ? `${k.name}=rotate:${s.rotate}`
    : `${k.name}=${keyPolicy(k)}`;
};

/**
 * The comment line of a put script naming every key and its policy (never a value); control
 * characters are escaped (`oneLine`), so no key name can end the comment and start a command.
 */
export const keysComment = (p: VaultPathSpec): string =>
  oneLine(`# keys (values on stdin only): ${p.keys.map(keyLabel).join(" ")}`);

/**
 * A string as Vault's CLI prints it with `-format=json` (Go's encoding/json): JSON with `<`, `>`,
 * `&`, U+2028 and U+2029 escaped as \\uXXXX. The put script compares these texts with what
 * `vault kv get -format=json -field=KEY` prints, so equal values compare equal.
 */
export function goJsonString(value: string): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * The stdin of a put command: one line `"<name>":<value as JSON>` per key, sorted by name (a JSON
 * text never holds a raw newline, so a line is one key). The script picks the lines of the keys
 * it writes and joins them into the JSON object `vault kv patch|put ... -` reads.
 */
export function vaultStdin(values: Readonly<Record<string, string | undefined>>): string {
  // An undefined value (a config key a mock runtime left unset; the program refuses a missing one
  // before any resource) is left out, as JSON.stringify of an object would.
  return Object.keys(values)
    .sort()
    .flatMap((n) => {
      const v = values[n];
      return v === undefined ? [] : [`${JSON.stringify(n)}:${goJsonString(v)}\n`];
    })
    .join("");
}
