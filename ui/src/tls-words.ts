/**
 * TLS handshake events in words: the one-line hint next to each arrow of a ladder and the
 * plain rendering of detail values. Pure (no DOM) so node:test covers it.
 */
import type { CipherInfo, HandshakeEvent, Leg, Sender } from './types.js';
import { decryptedHint } from './tls-secured.js';

/** The two columns of a leg's ladder, left to right. */
export const LEG_SENDERS: Record<Leg, readonly [Sender, Sender]> = {
  client: ['client', 'proxy'],
  server: ['proxy', 'server'],
};

export const SENDER_NAMES: Record<Sender, string> = {
  client: 'Client',
  proxy: 'mitmscope',
  server: 'Server',
};

/** Events drawn in red. */
export function isAlarm(e: HandshakeEvent): boolean {
  return e.type === 'Alert' || e.type === 'Error' || e.type === 'DecryptionFailed' || e.details['verified'] === false;
}

/** Records whose content the wire does not show (after ChangeCipherSpec, or TLS 1.3). */
export function isEncrypted(e: HandshakeEvent): boolean {
  return e.details['encrypted'] === true || e.type === 'EncryptedHandshake' || e.type === 'ApplicationData';
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function asCipher(v: unknown): CipherInfo | null {
  if (typeof v !== 'object' || v === null) return null;
  const c = v as Partial<CipherInfo>;
  return typeof c.name === 'string' ? (c as CipherInfo) : null;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The short hint shown after the message name on the ladder. */
export function eventHint(e: HandshakeEvent): string {
  const d = e.details;
  const decrypted = decryptedHint(e);
  if (decrypted !== null && (d['decrypted'] === true || d['verified'] !== undefined)) return decrypted;
  switch (e.type) {
    case 'ClientHello': {
      const parts: string[] = [];
      const sni = str(d['sni']);
      if (sni) parts.push(`SNI ${sni}`);
      const suites = list(d['cipherSuites']).length;
      if (suites > 0) parts.push(plural(suites, 'suite'));
      const alpn = list(d['alpn']).filter((x): x is string => typeof x === 'string');
      if (alpn.length > 0) parts.push(alpn.join(','));
      return parts.join(' · ');
    }
    case 'ServerHello':
    case 'HelloRetryRequest': {
      // The version is in the leg's heading; the chosen suite is what a reader scans for.
      const cipher = asCipher(d['cipher']);
      if (cipher) return cipher.name.replace(/^TLS_/, '');
      return str(d['version']) ?? '';
    }
    case 'Certificate': {
      const count = num(d['count']) ?? list(d['certificates']).length;
      return count > 0 ? plural(count, 'certificate') : '';
    }
    case 'ServerKeyExchange': {
      const group = str(d['group']);
      const kx = str(d['keyExchange']);
      return [kx, group].filter((x) => x !== null).join(' · ');
    }
    case 'ClientKeyExchange':
      return str(d['keyExchange']) ?? '';
    case 'Alert': {
      if (d['encrypted'] === true) return 'encrypted';
      const level = str(d['level']);
      const description = str(d['description']);
      return [level, description].filter((x) => x !== null).join(' ');
    }
    case 'Error':
    case 'DecryptionFailed':
      return str(d['reason']) ?? '';
    case 'TCPConnect':
      return '';
    case 'NewSessionTicket': {
      const hint = num(d['lifetimeHint']);
      return hint !== null ? `lifetime ${hint} s` : '';
    }
    default: {
      if (isEncrypted(e)) {
        const length = num(d['length']);
        return length !== null ? `encrypted · ${length} B` : 'encrypted';
      }
      return '';
    }
  }
}

/** The message name as drawn: `TCPConnect` reads as words. */
export function eventLabel(e: HandshakeEvent): string {
  if (e.type === 'TCPConnect') return 'TCP connect';
  return e.type;
}

/** Any detail value as plain text (arrays joined, objects as compact JSON). */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return v === '' ? '(empty)' : v;
  if (Array.isArray(v)) {
    if (v.length === 0) return 'none';
    return v.map((x) => (typeof x === 'object' && x !== null ? describeObject(x as Record<string, unknown>) : describeValue(x))).join(', ');
  }
  if (typeof v === 'object') return describeObject(v as Record<string, unknown>);
  return String(v);
}

function describeObject(o: Record<string, unknown>): string {
  // Extension summaries and similar carry a name: that is what a reader wants first.
  if (typeof o['name'] === 'string') return o['name'];
  // `{present, length}` (e.g. the session_ticket extension).
  if (typeof o['present'] === 'boolean') return o['present'] ? (typeof o['length'] === 'number' ? `yes (${o['length']} bytes)` : 'yes') : 'no';
  try {
    return JSON.stringify(o);
  } catch {
    return String(o);
  }
}

/** The cipher suites a ClientHello offered: ids with names when the parser provided them. */
export function offeredSuites(details: Record<string, unknown>): { id: number | null; name: string }[] {
  const ids = list(details['cipherSuites']);
  const names = list(details['cipherSuiteNames']);
  const n = Math.max(ids.length, names.length);
  const out: { id: number | null; name: string }[] = [];
  for (let i = 0; i < n; i++) {
    const id = num(ids[i]);
    const name = str(names[i]);
    out.push({ id, name: name ?? (id !== null ? `0x${id.toString(16).padStart(4, '0')}` : '?') });
  }
  return out;
}

/** Is this certificate valid at `now`? Words for the badge. */
export function validity(notBefore: string, notAfter: string, now: number): 'valid' | 'expired' | 'not yet valid' | 'unknown' {
  const from = Date.parse(notBefore);
  const to = Date.parse(notAfter);
  if (Number.isNaN(from) || Number.isNaN(to)) return 'unknown';
  if (now < from) return 'not yet valid';
  if (now > to) return 'expired';
  return 'valid';
}
