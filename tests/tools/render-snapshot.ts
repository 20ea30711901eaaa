/**
 * Prints every script the program renders for the shared test tenants (tests/unit/allScripts.ts),
 * one block per script, so a refactoring that must leave rendered scripts byte-identical can be
 * checked with a diff:
 *   npx ts-node --transpile-only tests/tools/render-snapshot.ts > before.txt   (then after, and diff)
 */
import { parseTenant } from "../../model";
import { baseRaw, CONFIRM_ID, renderEverything } from "../unit/allScripts";

for (const variant of ["per-container", "tenant"] as const) {
  for (const r of renderEverything(parseTenant(baseRaw(variant)), CONFIRM_ID)) {
    process.stdout.write(`===== ${variant} ${r.id}\n${r.text}\n`);
  }
}
