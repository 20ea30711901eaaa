/**
 * Caddy: the rendered files (files.ts), the scripts that change them in the proxy container
 * (scripts.ts) and the site-block scanner those scripts run on a main file the program did not
 * write (scan.ts).
 */
export { CADDY_LOCK, importLine, MANAGED_PREFIX, renderMainCaddyfile, renderVhost, sitesGlob } from "./files";
export { renderCaddyMainScripts, renderVhostScripts, takeOverField } from "./scripts";
export { SITE_SCAN_AWK, SITE_SCAN_SH } from "./scan";
