/** Line-level helpers of live drift: multiset difference and a context-free unified diff. */

/** a − b as multisets (compared by `key`), in a's order. */
export function minus(a: string[], b: string[], key: (x: string) => string = (x) => x): string[] {
  const left = new Map<string, number>();
  for (const x of b) left.set(key(x), (left.get(key(x)) ?? 0) + 1);
  return a.filter((x) => {
    const n = left.get(key(x)) ?? 0;
    if (n > 0) left.set(key(x), n - 1);
    return n === 0;
  });
}

/** The text without its trailing newlines. */
export const trimEnd = (s: string): string => s.replace(/\n+$/, "");

const range = (start: number, count: number): string =>
  count === 0 ? `${start},0` : count === 1 ? `${start + 1}` : `${start + 1},${count}`;

/** A unified diff with no context (`diff -U0` style) from `a` to `b`. */
export function unifiedDiff(a: string, b: string, aName: string, bName: string): string[] {
  const [x, y] = [trimEnd(a).split("\n"), trimEnd(b).split("\n")];
  const [n, m] = [x.length, y.length];
  if (n * m > 4_000_000)
    return [`--- ${aName}`, `+++ ${bName}`, `(${n} vs ${m} lines: too large to diff here)`];
  const lcs = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out = [`--- ${aName}`, `+++ ${bName}`];
  let [i, j] = [0, 0];
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      i++;
      j++;
      continue;
    }
    const [i0, j0, del, add] = [i, j, [] as string[], [] as string[]];
    while ((i < n || j < m) && !(i < n && j < m && x[i] === y[j])) {
      if (j >= m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1])) del.push(x[i++]);
      else add.push(y[j++]);
    }
    out.push(
      `@@ -${range(i0, del.length)} +${range(j0, add.length)} @@`,
      ...del.map((l) => `-${l}`),
      ...add.map((l) => `+${l}`),
    );
  }
  return out;
}
