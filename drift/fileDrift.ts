/** Live drift of one managed file: unreadable, missing, or a unified diff from live to desired. */
import { DriftItem, fileKey, LiveState } from "./read";
import { trimEnd, unifiedDiff } from "./textDiff";

/** One file to compare. */
export interface FileCheck {
  base: Pick<DriftItem, "resource" | "kind" | "command">;
  /** e.g. "caddy main file" or "vhost chat.example.com: site file". */
  what: string;
  container: string;
  path: string;
  want: string;
}

export function fileDrift(live: LiveState, f: FileCheck): DriftItem[] {
  const got = live.files[fileKey(f.container, f.path)];
  const where = `${f.path} in ${f.container}`;
  if (got === undefined || "error" in got)
    return [
      {
        ...f.base,
        change: "changed",
        text: `${f.what} unreadable live (${where})`,
        details: [got && "error" in got ? got.error : "not read"],
      },
    ];
  if ("missing" in got)
    return [{ ...f.base, change: "missing", text: `${f.what} missing live (${where})`, details: [] }];
  if (trimEnd(got.content) === trimEnd(f.want)) return [];
  return [
    {
      ...f.base,
      change: "changed",
      text: `${f.what} differs`,
      details: unifiedDiff(got.content, f.want, `live ${f.path}`, "desired"),
    },
  ];
}
