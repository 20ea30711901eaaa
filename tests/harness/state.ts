/**
 * The engine double's state: one JSON file keyed by URN, holding each managed resource's
 * last applied inputs and outputs (secrets unwrapped: the file is written mode 0600 and lives
 * in a temp dir; the real engine would encrypt them), its creation order and dependencies.
 * Also the generator of the random values (RandomPassword/RandomString) kept in it.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270";

/** Plain JSON data as stored. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A resource instance that still exists (a replaced one waiting for its delete). */
export interface OldInstance {
  inputs: Record<string, Json>;
  outputs: Record<string, Json>;
}

/** One managed resource. */
export interface StateEntry extends OldInstance {
  type: string;
  /** Creation sequence number: deletes run in reverse of it. */
  order: number;
  /** URNs this resource depended on when last registered (deletes run dependents first). */
  deps: string[];
  /** The previous instance of a create-before-delete replacement whose delete has not succeeded yet. */
  pendingDelete?: OldInstance;
}

/** Wraps a value in Pulumi's secret marker (as the engine sends secrets to the SDK). */
export function secretMarker(value: unknown): Record<string, unknown> {
  return { [SECRET_SIG_KEY]: SECRET_SIG_VALUE, value };
}

/** Unwraps Pulumi secret markers, recursively. */
export function unwrapSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o[SECRET_SIG_KEY] === SECRET_SIG_VALUE) return unwrapSecrets(o.value);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unwrapSecrets(x)]));
  }
  return v;
}

/** Inputs as the state stores them: secrets unwrapped, undefined members dropped (a JSON round trip). */
export function normalize(inputs: unknown): Record<string, Json> {
  return JSON.parse(JSON.stringify(unwrapSecrets(inputs) ?? {})) as Record<string, Json>;
}

/** Structural equality of JSON values (object key order ignored, nothing else). */
export function deepEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (
    a === null ||
    b === null ||
    a === undefined ||
    b === undefined ||
    typeof a !== "object" ||
    typeof b !== "object"
  )
    return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]))
    );
  }
  const ka = Object.keys(a);
  return (
    ka.length === Object.keys(b).length &&
    ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]))
  );
}

/** The state file: load once, mutate, `save()` after every change that must survive a crash. */
export class StateFile {
  private readonly entries: Record<string, StateEntry>;
  private seq: number;
  /** The stack outputs of the last successful run (what a StackReference to this stack reads). */
  private stackOutputs: Record<string, unknown>;

  constructor(readonly file: string) {
    const saved = fs.existsSync(file)
      ? (JSON.parse(fs.readFileSync(file, "utf8")) as {
          resources: Record<string, StateEntry>;
          outputs?: Record<string, unknown>;
        })
      : undefined;
    this.entries = saved?.resources ?? {};
    this.stackOutputs = saved?.outputs ?? {};
    this.seq = Math.max(0, ...Object.values(this.entries).map((e) => e.order));
  }

  /** The entry of `urn`, if any. */
  get(urn: string): StateEntry | undefined {
    return this.entries[urn];
  }

  /** Stack outputs of the last successful run. */
  outputs(): Record<string, unknown> {
    return this.stackOutputs;
  }

  /** Records the stack outputs of a successful run (or {} after a destroy) and saves. */
  setOutputs(outputs: Record<string, unknown>): void {
    this.stackOutputs = outputs;
    this.save();
  }

  /** Every URN in state. */
  urns(): string[] {
    return Object.keys(this.entries);
  }

  /** Sets (or replaces) the entry of `urn` and saves. */
  set(urn: string, entry: StateEntry): void {
    this.entries[urn] = entry;
    this.save();
  }

  /** Drops `urn` and saves. */
  remove(urn: string): void {
    delete this.entries[urn];
    this.save();
  }

  /** The next creation sequence number. */
  nextOrder(): number {
    return ++this.seq;
  }

  /**
   * The order to delete `urns` in: reverse creation order, except that a resource is only
   * deleted once nothing else in the set still depends on it.
   */
  deletionOrder(urns: string[]): string[] {
    const left = urns
      .filter((u) => this.entries[u] !== undefined)
      .sort((a, b) => this.entries[b].order - this.entries[a].order);
    const out: string[] = [];
    while (left.length > 0) {
      const i = left.findIndex((u) => !left.some((o) => o !== u && (this.entries[o].deps ?? []).includes(u)));
      out.push(...left.splice(Math.max(i, 0), 1));
    }
    return out;
  }

  /** Writes the state atomically (temp file + rename), mode 0600. */
  save(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(
      tmp,
      `${JSON.stringify({ version: 1, resources: this.entries, outputs: this.stackOutputs }, null, 2)}\n`,
      { mode: 0o600 },
    );
    fs.renameSync(tmp, this.file);
  }
}

/** A `length`-character value from the character classes the inputs allow, honouring min* counts. */
export function randomValue(inputs: Record<string, Json>): string {
  const on = (k: string) => inputs[k] !== false;
  const num = (k: string) => (typeof inputs[k] === "number" ? inputs[k] : 0);
  const classes: [string, number][] = [];
  if (on("lower")) classes.push(["abcdefghijklmnopqrstuvwxyz", num("minLower")]);
  if (on("upper")) classes.push(["ABCDEFGHIJKLMNOPQRSTUVWXYZ", num("minUpper")]);
  if (on("numeric") && on("number")) classes.push(["0123456789", num("minNumeric")]);
  if (on("special"))
    classes.push([
      typeof inputs.overrideSpecial === "string" ? inputs.overrideSpecial : "!@#$%&*()-_=+[]{}<>:?",
      num("minSpecial"),
    ]);
  const all = classes.map(([c]) => c).join("");
  const length = num("length");
  if (all === "" || length <= 0) throw new Error("random: no characters allowed or length < 1");
  const chars = classes.flatMap(([c, min]) =>
    Array.from({ length: min }, () => c[crypto.randomInt(c.length)]),
  );
  while (chars.length < length) chars.push(all[crypto.randomInt(all.length)]);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = crypto.randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j], chars[i]];
  }
  return chars.join("");
}
