/**
 * The site-block scanner of render/caddy/scan.ts, run for real (this machine's awk is mawk, as in
 * Debian's containers; sh is dash): which blocks of a Caddyfile list a domain (address lists,
 * schemes, ports, multi-line lists, comments, snippets, wildcards), what `cut` leaves of the file,
 * and how the sh driver follows imports (relative, globs, the sites folder skipped, cycles).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { SITE_SCAN_AWK, SITE_SCAN_SH } from "../../render/caddy";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-caddy-scan-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs the awk program on `text` for `dom` in `mode`; stdout. */
function awk(text: string, dom: string, mode: "scan" | "cut"): string {
  const file = path.join(dir, "one.caddyfile");
  fs.writeFileSync(file, text);
  const r = spawnSync("awk", ["-v", `dom=${dom}`, "-v", `mode=${mode}`, SITE_SCAN_AWK, file], {
    encoding: "utf8",
  });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return r.stdout;
}

const FILE = [
  "{", //                                     1 global options
  "\tstorage file_system {", //               2
  "\t\troot /opt/gbo/data/caddy", //          3
  "\t}", //                                   4
  "}", //                                     5
  "(common) {", //                            6 snippet
  "\tencode gzip", //                         7
  "}", //                                     8
  "# chat.example.com { (a comment)", //      9
  "import common", //                        10 a snippet, not a file
  "import extra/*.conf", //                  11
  "https://Chat.example.com:443, www.example.com {", // 12
  "\timport common", //                      13
  "\treverse_proxy 10.0.0.1:80 {", //        14
  "\t\theader_up Host {host}", //            15
  "\t}", //                                  16
  "}", //                                    17
  "", //                                     18
  "alm.example.com,", //                     19 multi-line address list
  "  git.example.com {", //                  20
  '\trespond "alm" # chat.example.com', //   21
  "}", //                                    22
  "*.example.com {", //                      23 wildcard
  '\trespond "wild"', //                     24
  "}", //                                    25
  "http://mail.example.com:80 mail.example.com. {", // 26 blank-separated, trailing dot
  "\tredir https://mail.example.com", //     27
  "}", //                                    28
  "&(route) {", //                           29 named route
  '\trespond "r"', //                        30
  "}", //                                    31
  "",
].join("\n");

describe("scan: the blocks of one domain, exact output", () => {
  test.each([
    [
      "scheme and port in a list",
      "chat.example.com",
      "site\t12\t17\thttps://Chat.example.com:443, www.example.com\n",
    ],
    [
      "second address of a list",
      "www.example.com",
      "site\t12\t17\thttps://Chat.example.com:443, www.example.com\n",
    ],
    [
      "first line of a multi-line list",
      "alm.example.com",
      "site\t19\t22\talm.example.com, git.example.com\n",
    ],
    [
      "continued line of a multi-line list",
      "git.example.com",
      "site\t19\t22\talm.example.com, git.example.com\n",
    ],
    [
      "blank-separated, scheme, port, trailing dot",
      "mail.example.com",
      "site\t26\t28\thttp://mail.example.com:80, mail.example.com.\n",
    ],
    ["a wildcard never matches", "x.example.com", ""],
    ["comments, snippets, named routes and the global block are no sites", "common", ""],
    ["a directive's argument is no site", "mail.example.com.evil", ""],
  ])("%s (%s)", (_what, dom, want) => {
    expect(awk(FILE, dom, "scan")).toBe(`import\textra/*.conf\n${want}`);
  });
});

describe("cut: the file without the domain, exact output", () => {
  const lines = FILE.split("\n");
  const without = (from: number, to: number, ...insert: string[]) =>
    [...lines.slice(0, from - 1), ...insert, ...lines.slice(to)].join("\n");
  test.each([
    [
      "only the domain's address goes, the block stays for the other",
      "chat.example.com",
      without(12, 12, "www.example.com {"),
    ],
    ["a multi-line list becomes one line", "git.example.com", without(19, 20, "alm.example.com {")],
    ["a block of only the domain goes whole", "mail.example.com", without(26, 28)],
    ["no block of the domain: byte for byte the same", "x.example.com", FILE],
  ])("%s (%s)", (_what, dom, want) => expect(awk(FILE, dom, "cut")).toBe(want));

  test("a single-block file loses its block and keeps the rest", () => {
    expect(awk("# hand-made\nchat.example.com {\n\trespond hi\n}\n", "chat.example.com", "cut")).toBe(
      "# hand-made\n",
    );
  });
});

describe("sh driver: follows the main file's imports, never the sites folder", () => {
  const root = path.join(dir, "tree");
  beforeAll(() => {
    fs.mkdirSync(path.join(root, "conf", "extra"), { recursive: true });
    fs.mkdirSync(path.join(root, "sites"));
    fs.writeFileSync(
      path.join(root, "conf", "config"),
      FILE + "import /no/such/*.caddy\nimport ../sites/*.caddy\n",
    );
    fs.writeFileSync(
      path.join(root, "conf", "extra", "a.conf"),
      "chat.example.com:8443 {\n\trespond a\n}\nimport b.conf\n",
    );
    fs.writeFileSync(
      path.join(root, "conf", "extra", "b.conf"),
      "import a.conf\nx.example.com {\n\trespond b\n}\n",
    );
    fs.writeFileSync(path.join(root, "sites", "chat.caddy"), "chat.example.com {\n\trespond ours\n}\n");
  });
  const scan = (dom: string, main = path.join(root, "conf", "config")) =>
    spawnSync("sh", ["-c", SITE_SCAN_SH, "scan", main, path.join(root, "sites"), dom, SITE_SCAN_AWK], {
      encoding: "utf8",
    });

  test("relative glob from the importing file's folder, each file once (a cycle ends), sites folder skipped", () => {
    const r = scan("chat.example.com");
    expect([r.status, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toBe(
      `site\t${root}/conf/extra/a.conf\t1\t3\tchat.example.com:8443\n` +
        `site\t${root}/conf/config\t12\t17\thttps://Chat.example.com:443, www.example.com\n`,
    );
    expect(scan("x.example.com").stdout).toBe(`site\t${root}/conf/extra/b.conf\t2\t4\tx.example.com\n`);
    expect(scan("nowhere.example.com").stdout).toBe("");
  });

  test("an unreadable main file: exit 3 and why", () => {
    const r = scan("chat.example.com", path.join(root, "missing"));
    expect([r.status, r.stdout, r.stderr]).toEqual([3, "", `cannot read ${root}/missing\n`]);
  });
});
