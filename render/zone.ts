/**
 * Zone files and the Corefile of the dns container, and the host scripts that apply them
 * (render/zone/files.ts: the text; render/zone/scripts.ts: the scripts; render/zone/parse.ts: the
 * awk reader of live zone files).
 *
 * The SOA serial is `YYYYMMDDNN`, computed ON THE HOST at apply time so the Pulumi inputs stay
 * stable: the script reads the zone file in the container, reads its SOA serial whatever its
 * layout (render/zone/parse.ts), masks the serial line and compares the rest with the desired
 * body. Same body: nothing is written and the serial stays. Otherwise serial = max(old + 1,
 * today's YYYYMMDD00). A live file the program did not write is replaced only when every record
 * in it is in the stack, or when the zone says `takeOver: true`; otherwise the script refuses,
 * listing each record that would be lost, and changes nothing. CoreDNS ignores SIGHUP (runbook
 * 001's `pkill -HUP` does nothing): its `file` plugin reloads a zone by itself when the serial
 * grows, and SIGUSR1 makes it reload the Corefile.
 */
export {
  blockMarkers,
  INTERNAL_NETS,
  PUBLIC_QTYPES,
  renderCorefile,
  renderCorefileBlock,
  renderZone,
  renderZoneBody,
  SERIAL_PLACEHOLDER,
  SOA_TIMERS,
} from "./zone/files";
export { renderCorefileScripts, renderZoneScripts, TODAY_COMMAND } from "./zone/scripts";
export { ZONE_AWK, zparseFunction } from "./zone/parse";
