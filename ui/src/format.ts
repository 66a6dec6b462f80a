/**
 * Formatting helpers shared by the list and the detail views. Pure (no DOM) so node:test covers
 * them (test/ui/format.test.ts).
 */

const KIB = 1024;
const SIZE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB'] as const;
/** Bytes per hex-dump line, as in `xxd` and `hexdump -C`. */
export const HEX_BYTES_PER_LINE = 16;

/** 0 → `0 B`, 1536 → `1.5 KB`, 10 MiB → `10 MB` (binary units, short names as devtools shows them). */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '';
  let value = bytes;
  let unit = 0;
  while (value >= KIB && unit < SIZE_UNITS.length - 1) {
    value /= KIB;
    unit++;
  }
  if (unit === 0) return `${value} B`;
  const digits = value < 10 ? 1 : 0;
  return `${value.toFixed(digits)} ${SIZE_UNITS[unit]}`;
}

/** ms → `850 µs`, `12.3 ms`, `412 ms`, `1.25 s`, `2 min 5 s`; null (pending) → `…`. */
export function formatDuration(ms: number | null): string {
  if (ms === null) return '…';
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes} min ${seconds} s`;
}

/**
 * Handshake offsets keep the precision that tells messages of one flight apart:
 * `0.412 ms`, `12.06 ms`, `250.3 ms`, `1.25 s`.
 */
export function formatOffset(ms: number): string {
  if (ms < 10) return `${ms.toFixed(3)} ms`;
  if (ms < 100) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return formatDuration(ms);
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Epoch ms → local `HH:MM:SS.mmm` (the list's clock column and event times). */
export function formatClock(epochMs: number): string {
  const d = new Date(epochMs);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** ISO date → `2026-01-01 00:00 UTC`; anything unparseable is shown as given. */
export function formatDate(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** 0xc02f → `0xC02F`. */
export function hexId(id: number, width = 4): string {
  return `0x${id.toString(16).toUpperCase().padStart(width, '0')}`;
}

/** `application/json; charset=utf-8` → `json`, `image/svg+xml` → `svg`, null → ``. */
export function shortType(contentType: string | null): string {
  if (!contentType) return '';
  const essence = contentType.split(';')[0]!.trim().toLowerCase();
  const slash = essence.indexOf('/');
  let sub = slash < 0 ? essence : essence.slice(slash + 1);
  const plus = sub.lastIndexOf('+');
  // `vnd.api+json` reads as json; `svg+xml` reads as svg (the + suffix is only the syntax).
  if (plus >= 0) sub = sub.slice(plus + 1) === 'json' ? 'json' : sub.slice(0, plus);
  if (sub === 'javascript' || sub === 'ecmascript' || sub === 'x-javascript') return 'js';
  if (sub === 'x-www-form-urlencoded') return 'form';
  if (sub === 'octet-stream') return 'binary';
  return sub.replace(/^x-/, '');
}

export type StatusClass = 'pending' | 'info' | 'ok' | 'redirect' | 'client-error' | 'server-error' | 'failed';

/** The colour family of a row. */
export function statusClass(status: number | null, error: string | null, state: string): StatusClass {
  if (error !== null || state === 'error') return 'failed';
  if (status === null) return 'pending';
  if (status < 200) return 'info';
  if (status < 300) return 'ok';
  if (status < 400) return 'redirect';
  if (status < 500) return 'client-error';
  return 'server-error';
}

/** `https://a.example:8443/x?y` → { origin: `https://a.example:8443`, path: `/x?y` }; CONNECT targets have no path. */
export function splitUrl(url: string): { origin: string; path: string } {
  const scheme = url.indexOf('://');
  if (scheme < 0) return url.startsWith('/') ? { origin: '', path: url } : { origin: url, path: '' };
  const slash = url.indexOf('/', scheme + 3);
  if (slash < 0) return { origin: url, path: '/' };
  return { origin: url.slice(0, slash), path: url.slice(slash) };
}

function byteHex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

/**
 * `hexdump -C` layout: offset, 16 bytes in two groups of 8, printable ASCII (`.` for the rest).
 * `start` and `max` pick a window so huge bodies are dumped page by page.
 */
export function hexDump(bytes: Uint8Array, start = 0, max = bytes.length): string {
  const end = Math.min(bytes.length, start + max);
  const lines: string[] = [];
  for (let off = start; off < end; off += HEX_BYTES_PER_LINE) {
    const lineEnd = Math.min(end, off + HEX_BYTES_PER_LINE);
    let hex = '';
    let ascii = '';
    for (let i = off; i < off + HEX_BYTES_PER_LINE; i++) {
      if (i === off + 8) hex += ' ';
      if (i < lineEnd) {
        const b = bytes[i]!;
        hex += `${byteHex(b)} `;
        ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else {
        hex += '   ';
      }
    }
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex} |${ascii}|`);
  }
  return lines.join('\n');
}

/** Standard base64 → bytes; null when it is not base64 (WebSocket binary frames are base64). */
export function base64ToBytes(b64: string): Uint8Array | null {
  const clean = b64.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) return null;
  const bin = atob(clean.padEnd(Math.ceil(clean.length / 4) * 4, '='));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** `keyExchange` → `Key exchange`: labels for detail keys nobody named explicitly. */
export function humanize(key: string): string {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .trim()
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** 12345 → `12,345` regardless of locale, so tests and screenshots read the same. */
export function formatCount(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
