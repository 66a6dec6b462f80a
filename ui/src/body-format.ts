/**
 * Deciding how to show a captured body and pretty-printing it — as text only. Pure (no DOM) so
 * node:test covers it; the output always ends up in Preact text nodes, never in markup.
 */

export type BodyKind = 'empty' | 'json' | 'xml' | 'html' | 'form' | 'image' | 'text' | 'binary';

/**
 * Images shown from blob URLs. SVG is left out on purpose: it is a document that can carry
 * script, so it is shown as XML source instead.
 */
export const RASTER_IMAGE_TYPES: ReadonlySet<string> = new Set([
  'image/png',
  'image/jpeg',
  'image/jpg',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/bmp',
  'image/x-icon',
  'image/vnd.microsoft.icon',
]);

/** Pretty-printing a few MB of JSON stays under a frame budget; beyond that show it raw. */
export const MAX_PRETTY_BYTES = 2 * 1024 * 1024;
/** Share of C0 control characters (other than tab, CR, LF, FF) above which "text" is really binary. */
const CONTROL_CHAR_RATIO = 0.02;
/** A UTF-8 sequence is at most 4 bytes: a truncated capture can cut the last one short. */
const MAX_UTF8_TAIL = 3;

/** `Text/HTML; charset=x` → `text/html`. */
export function mimeEssence(contentType: string | null): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes at the end that start a UTF-8 sequence the capture cut short (0 when none). */
export function incompleteUtf8Tail(bytes: Uint8Array): number {
  for (let back = 1; back <= MAX_UTF8_TAIL && back <= bytes.length; back++) {
    const b = bytes[bytes.length - back]!;
    if (b >= 0x80 && b < 0xc0) continue; // a continuation byte: keep looking for the lead
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/**
 * Bytes → text when they are UTF-8 and look like text; null for binary. A sequence cut short by
 * the capture cap at the very end is dropped rather than making the whole body "binary".
 */
export function decodeText(bytes: Uint8Array): string | null {
  let text: string;
  try {
    text = utf8.decode(bytes.subarray(0, bytes.length - incompleteUtf8Tail(bytes)));
  } catch {
    return null;
  }
  let controls = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0) return null;
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x0c) controls++;
  }
  return controls > text.length * CONTROL_CHAR_RATIO ? null : text;
}

function looksLikeJson(text: string): boolean {
  const t = text.trimStart();
  return t.startsWith('{') || t.startsWith('[');
}

/** Picks a view from the declared type first, then from the bytes (servers mislabel often). */
export function classifyBody(contentType: string | null, bytes: Uint8Array, text: string | null): BodyKind {
  if (bytes.length === 0) return 'empty';
  const mime = mimeEssence(contentType);
  if (RASTER_IMAGE_TYPES.has(mime)) return 'image';
  if (text === null) return 'binary';
  if (mime === 'application/json' || mime.endsWith('+json') || mime === 'text/json') return 'json';
  if (mime === 'application/x-www-form-urlencoded') return 'form';
  if (mime === 'text/html' || mime === 'application/xhtml+xml') return 'html';
  if (mime.endsWith('/xml') || mime.endsWith('+xml')) return 'xml';
  if (looksLikeJson(text) && prettyJson(text) !== null) return 'json';
  if (/^\s*<\?xml/.test(text)) return 'xml';
  if (/^\s*<!doctype html|^\s*<html[\s>]/i.test(text)) return 'html';
  return 'text';
}

/** Two-space JSON, or null when the text is not JSON (shown raw then). */
export function prettyJson(text: string): string | null {
  if (text.length > MAX_PRETTY_BYTES) return null;
  try {
    return JSON.stringify(JSON.parse(text) as unknown, null, 2);
  } catch {
    return null;
  }
}

/** The last alternative takes an unterminated `<tag` so no character is ever dropped. */
const XML_TOKENS = /<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->|<[^>]*>|[^<]+|<[^<]*/g;

function isOpenTag(tok: string): boolean {
  return tok.startsWith('<') && !tok.startsWith('</') && !tok.startsWith('<?') && !tok.startsWith('<!') && !tok.endsWith('/>');
}

/**
 * Indents XML one element per line. A tokenizer, not a parser: malformed input still comes out
 * (as text) in its original order; `<a>short text</a>` stays on one line.
 */
export function prettyXml(xml: string, indent = '  '): string {
  if (xml.length > MAX_PRETTY_BYTES) return xml;
  const tokens = xml.match(XML_TOKENS) ?? [];
  const lines: string[] = [];
  let depth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    const pad = indent.repeat(depth);
    if (tok.startsWith('</')) {
      depth = Math.max(0, depth - 1);
      lines.push(indent.repeat(depth) + tok);
    } else if (isOpenTag(tok)) {
      const next = tokens[i + 1];
      const after = tokens[i + 2];
      if (next !== undefined && next.startsWith('</')) {
        lines.push(pad + tok + next);
        i += 1;
      } else if (next !== undefined && !next.startsWith('<') && after !== undefined && after.startsWith('</')) {
        lines.push(pad + tok + next.trim() + after);
        i += 2;
      } else {
        lines.push(pad + tok);
        depth++;
      }
    } else if (tok.startsWith('<')) {
      lines.push(pad + tok);
    } else {
      const text = tok.trim();
      if (text !== '') lines.push(pad + text);
    }
  }
  return lines.join('\n');
}

/** `a=1&b=x%20y` → [['a','1'],['b','x y']]; `+` is a space in forms (HTML §4.10.21.7). */
export function parseForm(text: string): [name: string, value: string][] {
  const out: [string, string][] = [];
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? '' : part.slice(eq + 1);
    out.push([decodeFormComponent(rawName), decodeFormComponent(rawValue)]);
  }
  return out;
}

function decodeFormComponent(s: string): string {
  const spaced = s.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}
