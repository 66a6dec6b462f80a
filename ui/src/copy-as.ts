/**
 * "Copy as": a captured request as a cURL command (POSIX shell or Windows cmd), JavaScript
 * `fetch`, Python `requests` or HTTPie. Pure: the request in, the text out. Hop-by-hop and
 * pseudo-headers are dropped and Content-Length is left to the tool; a body that is not plain
 * UTF-8 text (or was truncated) is referenced as a file with a note, except where the language
 * can hold the exact bytes (Python, fetch).
 */
import { cmd, cmdUnsafe, js, posix, pyBytes, pyStr } from './shell-quote.js';
import type { Header } from './types.js';

export type CopyFormat = 'curl' | 'curl-cmd' | 'fetch' | 'python' | 'httpie';

export const COPY_FORMATS: readonly { format: CopyFormat; label: string }[] = [
  { format: 'curl', label: 'cURL (POSIX shell)' },
  { format: 'curl-cmd', label: 'cURL (Windows cmd)' },
  { format: 'fetch', label: 'JavaScript fetch' },
  { format: 'python', label: 'Python requests' },
  { format: 'httpie', label: 'HTTPie' },
];

export interface CopyRequest {
  method: string;
  url: string;
  headers: readonly Header[];
  body: Uint8Array;
  bodyTruncated: boolean;
}

/** The file a non-text body is read from; the note says to save it there. */
export const BODY_FILE = 'request-body.bin';

/** RFC 9110 §7.6.1 hop-by-hop fields, proxy credentials, and lengths the tool computes itself. */
const DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length', 'host']);
/** Headers `fetch` refuses to set (the Fetch standard's forbidden request-header names we would otherwise send). */
const FETCH_FORBIDDEN = new Set(['accept-encoding', 'cookie2', 'date', 'dnt', 'expect', 'referer', 'via', 'origin']);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

interface Prepared {
  method: string;
  url: string;
  headers: Header[];
  /** The body as text when it is valid UTF-8 without control characters (tab, CR, LF allowed). */
  text: string | null;
  bytes: Uint8Array;
  bodyTruncated: boolean;
  notes: string[];
}

function prepare(req: CopyRequest): Prepared {
  const notes: string[] = [];
  const headers = req.headers.filter(([name]) => !name.startsWith(':') && !DROPPED.has(name.toLowerCase()));
  // A name that is not an RFC 9110 token (possible in an imported HAR) could be read as an
  // option by a tool (curl's `-H @file`): such headers are left out, with a note.
  const valid = headers.filter(([name]) => TOKEN.test(name));
  if (valid.length < headers.length) notes.push(`${headers.length - valid.length} header(s) with an invalid name were left out`);
  let text: string | null = null;
  if (req.body.length > 0) {
    try {
      const decoded = new TextDecoder('utf-8', { fatal: true }).decode(req.body);
      if (!/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(decoded)) text = decoded;
    } catch {
      // Not UTF-8: handled as binary.
    }
  }
  if (req.bodyTruncated) {
    text = null;
    notes.unshift(`the captured body is truncated (${req.body.length} bytes kept): save the full body as ${BODY_FILE}`);
  }
  return { method: req.method, url: req.url, headers: valid, text, bytes: req.body, bodyTruncated: req.bodyTruncated, notes };
}

function binaryNote(p: Prepared): string {
  return `the body is binary (${p.bytes.length} bytes): save it from the dashboard as ${BODY_FILE}`;
}

function hasHeader(p: Prepared, name: string): boolean {
  return p.headers.some(([n]) => n.toLowerCase() === name);
}

/** curl's arguments (unquoted) as groups of an option and its value, and notes on what they could not carry. */
function curlArgs(p: Prepared): { groups: string[][]; notes: string[] } {
  const notes = [...p.notes];
  const groups: string[][] = [];
  const hasBody = p.bytes.length > 0;
  if (p.method === 'HEAD') groups.push(['--head']);
  else if (p.method !== 'GET' || hasBody) groups.push(['-X', p.method]);
  // `[ ] { }` in a URL are curl globs unless switched off.
  if (/[[\]{}]/.test(p.url)) groups.push(['--globoff']);
  // `--url` so that a URL can never be read as an option.
  groups.push(['--url', p.url]);
  for (const [name, value] of p.headers) {
    // `Name;` sends a header with an empty value; `Name:` would remove it.
    groups.push(['-H', value === '' ? `${name};` : `${name}: ${value}`]);
  }
  if (hasBody) {
    // Without a Content-Type, curl would add a form one the request never had.
    if (!hasHeader(p, 'content-type')) groups.push(['-H', 'Content-Type:']);
    // --data-raw, unlike --data, never reads a file for a leading `@`.
    if (p.text !== null) groups.push(['--data-raw', p.text]);
    else {
      groups.push(['--data-binary', `@${BODY_FILE}`]);
      if (!p.bodyTruncated) notes.push(binaryNote(p));
    }
  }
  return { groups, notes };
}

function oneLine(note: string): string {
  return note.replace(/[\r\n\u2028\u2029]/g, ' ');
}

function curlPosix(p: Prepared): string {
  const { groups, notes } = curlArgs(p);
  const command = ['curl', ...groups.map((g) => g.map(posix).join(' '))].join(' \\\n  ');
  return [...notes.map((n) => `# ${oneLine(n)}`), command].join('\n');
}

function curlCmd(p: Prepared): string {
  const { groups, notes } = curlArgs(p);
  const kept: string[][] = [];
  for (const g of groups) {
    const value = g[1];
    if (value === undefined || !cmdUnsafe(value)) kept.push(g);
    else if (g[0] === '--data-raw') {
      // A line break would end the cmd command: the body is read from the file instead.
      kept.push(['--data-binary', `@${BODY_FILE}`]);
      notes.push(`the body has line breaks, which cmd cannot carry: save it as ${BODY_FILE}`);
    } else if (g[0] === '-H') notes.push('a header with a control character was left out: cmd cannot carry it');
    else return `REM the ${g[0] === '--url' ? 'URL' : 'method'} has a control character, which cmd cannot carry`;
  }
  // cmd has no comment quoting: a note keeps only characters that are inert after REM.
  const rems = notes.map((n) => `REM ${oneLine(n).replace(/[^A-Za-z0-9 ._,:;@/-]/g, '')}`);
  const command = ['curl', ...kept.map(([option, value]) => (value === undefined ? option! : `${option!} ${cmd(value)}`))].join(' ');
  return [...rems, command].join('\r\n');
}

function base64(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function fetchJs(p: Prepared): string {
  const headers = p.headers.filter(([n]) => !FETCH_FORBIDDEN.has(n.toLowerCase()) && !n.toLowerCase().startsWith('sec-'));
  const lines = [`await fetch(${js(p.url)}, {`, `  method: ${js(p.method)},`];
  if (headers.length > 0) {
    lines.push('  headers: [');
    for (const [n, v] of headers) lines.push(`    [${js(n)}, ${js(v)}],`);
    lines.push('  ],');
  }
  const notes = p.notes.map((n) => `// ${oneLine(n)}`);
  if (p.bytes.length > 0) {
    if (p.text !== null) lines.push(`  body: ${js(p.text)},`);
    else lines.push(`  body: Uint8Array.from(atob(${js(base64(p.bytes))}), (c) => c.charCodeAt(0)),`);
  }
  lines.push('});');
  return [...notes, ...lines].join('\n');
}

function python(p: Prepared): string {
  const notes = p.notes.map((n) => `# ${oneLine(n)}`);
  const lines = ['import requests', ''];
  lines.push('response = requests.request(');
  lines.push(`    ${pyStr(p.method)},`);
  lines.push(`    ${pyStr(p.url)},`);
  if (p.headers.length > 0) {
    lines.push('    headers={');
    // A dict keeps one value per name: repeated headers are joined as RFC 9110 §5.3 allows.
    const merged = new Map<string, { name: string; values: string[] }>();
    for (const [n, v] of p.headers) {
      const e = merged.get(n.toLowerCase());
      if (e) e.values.push(v);
      else merged.set(n.toLowerCase(), { name: n, values: [v] });
    }
    for (const { name, values } of merged.values()) lines.push(`        ${pyStr(name)}: ${pyStr(values.join(', '))},`);
    lines.push('    },');
  }
  if (p.bytes.length > 0) lines.push(`    data=${pyBytes(p.bytes)},`);
  lines.push(')');
  return [...notes, ...lines].join('\n');
}

/** An HTTPie header item: `;` for an empty value, a leading separator character escaped. */
function httpieHeader(name: string, value: string): string {
  if (value === '') return `${name};`;
  const escaped = value.replace(/\\/g, '\\\\').replace(/^([=@:])/, '\\$1');
  return `${name}:${escaped}`;
}

function httpie(p: Prepared): string {
  const notes = [...p.notes];
  const items = p.headers.map(([n, v]) => posix(httpieHeader(n, v)));
  const options = ['--ignore-stdin'];
  let stdin = '';
  if (p.bytes.length > 0) {
    if (p.text !== null) options.push('--raw', posix(p.text));
    else {
      if (!p.bodyTruncated) notes.push(binaryNote(p));
      options.length = 0;
      stdin = ` < ${BODY_FILE}`;
    }
  }
  const command = ['http', ...options, posix(p.method), posix(p.url), ...items].join(' ') + stdin;
  return [...notes.map((n) => `# ${oneLine(n)}`), command].join('\n');
}

/** Comment syntax of each format, for a request that cannot be copied at all. */
const COMMENT: Record<CopyFormat, string> = { curl: '# ', 'curl-cmd': 'REM ', fetch: '// ', python: '# ', httpie: '# ' };

/**
 * Why a request cannot become a command: tools take the method and URL as arguments (HTTPie
 * even as positionals, where `-o…` would be an option), so both must be what HTTP allows.
 */
function uncopyable(req: CopyRequest): string | null {
  if (!TOKEN.test(req.method)) return 'the method is not a valid HTTP method: nothing to copy';
  if (!/^https?:\/\/[^\s\x00-\x1f\x7f]+$/i.test(req.url)) return 'only http:// and https:// requests can be copied (this is a CONNECT, WebSocket or malformed URL)';
  return null;
}

export function copyAs(format: CopyFormat, req: CopyRequest): string {
  const refusal = uncopyable(req);
  if (refusal !== null) return `${COMMENT[format]}${refusal}`;
  const p = prepare(req);
  switch (format) {
    case 'curl':
      return curlPosix(p);
    case 'curl-cmd':
      return curlCmd(p);
    case 'fetch':
      return fetchJs(p);
    case 'python':
      return python(p);
    case 'httpie':
      return httpie(p);
  }
}
