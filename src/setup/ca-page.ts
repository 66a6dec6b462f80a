/**
 * The CA install page the proxy answers for `http://mitmscope.test/` (like mitmproxy's mitm.it):
 * the certificate in three formats, its SHA-256 fingerprint, and how to trust it on each system.
 * No script at all, a strict CSP, every value escaped.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { debuglog } from 'node:util';
import forge from 'node-forge';
import { statusFor, type ErrorCode } from '../errors.js';
import { ERROR_HEADER } from '../proxy/error-response.js';

/** The name the proxy answers itself (RFC 6761 reserves .test, so it never belongs to a real site). */
export const CA_PAGE_HOST = 'mitmscope.test';

const debug = debuglog('mitmscope-setup');

/**
 * The CA certificate as PEM, DER and PKCS#12 (certificate only). Each is a path, read at every
 * request, or the bytes themselves: a read-only CA folder may hold only ca.pem and ca.key, and
 * the root CA then keeps the DER and PKCS#12 in memory.
 */
export interface CaFiles {
  pem: string | Buffer;
  cer: string | Buffer;
  p12: string | Buffer;
}

type Format = keyof CaFiles;

interface Download {
  format: Format;
  contentType: string;
  /** Saved-as name: recognisable in a Downloads folder, extension as the installers expect. */
  filename: string;
  label: string;
}

const DOWNLOADS: ReadonlyMap<string, Download> = new Map([
  ['/ca.pem', { format: 'pem', contentType: 'application/x-pem-file', filename: 'mitmscope-ca.pem', label: 'PEM — macOS, Linux, Firefox, tools' }],
  ['/ca.cer', { format: 'cer', contentType: 'application/pkix-cert', filename: 'mitmscope-ca.cer', label: 'DER — Windows, Android, iOS' }],
  ['/ca.p12', { format: 'p12', contentType: 'application/x-pkcs12', filename: 'mitmscope-ca.p12', label: 'PKCS#12 — older Android, some MDM tools' }],
] as const);

const STYLE = [
  'body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}',
  'code,.fp{font-family:ui-monospace,monospace;font-size:.9em;background:#f3f3f3;padding:0 .2em;overflow-wrap:anywhere}',
  'h2{margin-top:1.6em;font-size:1.15em}.dl a{display:inline-block;margin:.2em 0;font-weight:600}',
  '.warn{border-left:4px solid #c60;padding:.2em .8em;background:#fff6ec}',
].join('');

/** The page's only style is this block, allowed by its hash: no 'unsafe-inline' anywhere. */
const CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/** Install steps; text inside backticks is shown as code. Checked against each system's docs. */
const INSTRUCTIONS: ReadonlyArray<{ title: string; steps: readonly string[] }> = [
  {
    title: 'macOS',
    steps: [
      'Download `ca.pem`, open it: Keychain Access adds it to the login keychain. Double-click the mitmscope certificate, open Trust and set "When using this certificate" to Always Trust.',
      'Or in a terminal: `sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain mitmscope-ca.pem`',
      'Safari and Chrome use the keychain; Firefox has its own store (see Firefox).',
    ],
  },
  {
    title: 'Windows',
    steps: [
      'Download `ca.cer`, double-click it, Install Certificate…, choose Current User (or Local Machine), then "Place all certificates in the following store": Trusted Root Certification Authorities.',
      'Or in a terminal: `certutil -user -addstore Root mitmscope-ca.cer` (for every user, from an administrator prompt: `certutil -addstore Root mitmscope-ca.cer`).',
      'Edge and Chrome use this store; Firefox has its own (see Firefox).',
    ],
  },
  {
    title: 'Linux (system store: curl, git, Python ssl, Go…)',
    steps: [
      'Debian, Ubuntu: `sudo cp mitmscope-ca.pem /usr/local/share/ca-certificates/mitmscope.crt && sudo update-ca-certificates` (the file must end in .crt).',
      'Fedora, RHEL, Arch: `sudo trust anchor mitmscope-ca.pem`',
      'For one terminal only, without root: `eval "$(mitmscope env)"`',
    ],
  },
  {
    title: 'Chrome and Chromium on Linux',
    steps: [
      'They read the NSS database in your home, not the system store: `certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n mitmscope -i mitmscope-ca.pem` (certutil is in libnss3-tools), then restart the browser.',
      'Or import `mitmscope-ca.pem` under Authorities in Settings → Privacy and security → Security → Manage certificates, trusted for identifying websites.',
    ],
  },
  {
    title: 'Firefox (every system)',
    steps: [
      'Settings → Privacy & Security → Certificates → View Certificates… → Authorities → Import… → `mitmscope-ca.pem`, and tick "Trust this CA to identify websites".',
      'On Windows and macOS, setting `security.enterprise_roots.enabled` to true in about:config makes Firefox trust the system store instead.',
    ],
  },
  {
    title: 'Android',
    steps: [
      'Download `ca.cer`, then Settings → Security → Encryption & credentials → Install a certificate → CA certificate, and pick the file (menus differ by vendor: search Settings for "CA certificate").',
      'This is a user CA: Chrome trusts it, but apps targeting Android 7 or later do not unless their network_security_config lists `<certificates src="user"/>` (debug builds can add it).',
    ],
  },
  {
    title: 'iOS and iPadOS',
    steps: [
      'Open this page in Safari, tap `ca.cer`, then Allow: the profile is downloaded.',
      'Settings → General → VPN & Device Management → mitmscope → Install.',
      'Then Settings → General → About → Certificate Trust Settings, and turn on full trust for the mitmscope root. Without this last step nothing trusts it.',
    ],
  },
];

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Escapes, then shows backticked parts as code (backticks survive escaping). */
function renderStep(step: string): string {
  return escapeHtml(step).replace(/`([^`]*)`/g, '<code>$1</code>');
}

function htmlDocument(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

function installPage(fingerprint256: string): string {
  const links = [...DOWNLOADS].map(([path, d]) => `<li><a href="${escapeHtml(path)}" download="${escapeHtml(d.filename)}">${escapeHtml(path.slice(1))}</a> — ${escapeHtml(d.label)}</li>`);
  const sections = INSTRUCTIONS.map((s) => `<h2>${escapeHtml(s.title)}</h2>\n<ul>\n${s.steps.map((step) => `<li>${renderStep(step)}</li>`).join('\n')}\n</ul>`);
  return htmlDocument(
    'mitmscope CA',
    `<h1>Trust the mitmscope CA</h1>
<p>This page comes from the mitmscope proxy you are connected through. Its root certificate signs the certificates it shows for every HTTPS site, so trust it only on devices you debug.</p>
<ul class="dl">
${links.join('\n')}
</ul>
<p>SHA-256 fingerprint:<br><span class="fp">${escapeHtml(fingerprint256)}</span></p>
<p>Check it before you trust the file: <code>openssl x509 -in mitmscope-ca.pem -noout -fingerprint -sha256</code>, or the SHA-256 of the DER file (<code>shasum -a 256 mitmscope-ca.cer</code>, <code>certutil -hashfile mitmscope-ca.cer SHA256</code>).</p>
<p class="warn">Each mitmscope install has its own CA; its key stays in the CA folder on the proxy's machine. Remove the certificate from your device when you are done: whoever holds that key can impersonate any site to it.</p>
${sections.join('\n')}
`,
  );
}

/**
 * "No password" is two different things to PKCS#12 writers: OpenSSL's `-passout pass:` MACs with the
 * empty string, forge's `null` with no password bytes at all. Either opens a public .p12.
 */
const EMPTY_PASSWORDS = ['', undefined] as const;

function openP12(bytes: Buffer): forge.pkcs12.Pkcs12Pfx {
  let last: unknown = null;
  for (const password of EMPTY_PASSWORDS) {
    try {
      return forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(forge.util.createBuffer(bytes.toString('binary'))), false, password);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

/** Throws unless `bytes` is the public certificate only: this host is answered to anyone using the proxy. */
function assertPublic(format: Format, bytes: Buffer): void {
  if (format === 'pem') {
    if (bytes.includes('PRIVATE KEY')) throw new Error('ca.pem holds a private key');
    new X509Certificate(bytes);
    return;
  }
  if (format === 'cer') {
    new X509Certificate(bytes);
    return;
  }
  // PKCS#12 may carry a key; if it cannot be opened without a password it cannot be checked either.
  const p12 = openP12(bytes);
  const { keyBag, pkcs8ShroudedKeyBag } = forge.pki.oids;
  for (const bagType of [keyBag, pkcs8ShroudedKeyBag]) {
    if (bagType && (p12.getBags({ bagType })[bagType] ?? []).length > 0) throw new Error('ca.p12 holds a private key');
  }
}

function sendHtml(req: IncomingMessage, res: ServerResponse, status: number, html: string, extra: Record<string, string> = {}): void {
  const body = Buffer.from(html);
  res.writeHead(status, { ...PAGE_HEADERS, ...extra, 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': String(body.length) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** An error page for people (the install page is opened in a browser), with the status and header every mitmscope error has. */
function sendErrorPage(req: IncomingMessage, res: ServerResponse, code: ErrorCode, html: string, extra: Record<string, string> = {}): void {
  sendHtml(req, res, statusFor(code), html, { ...extra, [ERROR_HEADER]: code });
}

async function sendDownload(req: IncomingMessage, res: ServerResponse, download: Download, source: string | Buffer): Promise<void> {
  let bytes: Buffer;
  try {
    bytes = typeof source === 'string' ? await readFile(source) : source;
    assertPublic(download.format, bytes);
  } catch (err) {
    // The reason (a path, a key found) is for the proxy's owner, not for whoever asked.
    debug('cannot serve %s: %s', download.filename, (err as Error).message);
    sendErrorPage(req, res, 'MITM_ERR_CA_IO', htmlDocument('mitmscope: CA file unavailable', '<h1>The CA file cannot be served</h1><p>Check the CA folder on the machine running mitmscope.</p>'));
    return;
  }
  res.writeHead(200, {
    ...PAGE_HEADERS,
    'Content-Type': download.contentType,
    'Content-Length': String(bytes.length),
    'Content-Disposition': `attachment; filename="${download.filename}"`,
  });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

/** A request handler for the CA install host; request URLs may be absolute (plain proxy requests). */
export function caPageHandler(files: CaFiles, fingerprint256: string): (req: IncomingMessage, res: ServerResponse) => void {
  const page = installPage(fingerprint256);
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendErrorPage(req, res, 'MITM_ERR_METHOD_NOT_ALLOWED', htmlDocument('mitmscope: method not allowed', '<h1>Only GET and HEAD</h1><p><a href="/">Back to the CA page</a></p>'), { Allow: 'GET, HEAD' });
      return;
    }
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', `http://${CA_PAGE_HOST}`).pathname;
    } catch {
      pathname = '';
    }
    if (pathname === '/') return sendHtml(req, res, 200, page);
    const download = DOWNLOADS.get(pathname);
    if (download) {
      void sendDownload(req, res, download, files[download.format]);
      return;
    }
    sendErrorPage(req, res, 'MITM_ERR_NOT_FOUND', htmlDocument('mitmscope: not found', '<h1>Not found</h1><p><a href="/">The CA page</a> offers ca.pem, ca.cer and ca.p12.</p>'));
  };
}
