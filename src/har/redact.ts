/**
 * Redaction of credentials in exported and recorded HAR: HAR files get attached to bug reports,
 * so session cookies and tokens must be removable before they leave the machine.
 */
import type { Header } from '../capture/flow.js';
import type { HarCookie, HarNameValue } from './types.js';

export interface RedactOptions {
  /** Extra header names (any case) whose values are replaced, on top of the credential headers. */
  headers: string[];
}

export const REDACTED = '[redacted]';

/** Headers that carry credentials in every exchange; redaction always covers them. */
const CREDENTIAL_HEADERS = ['cookie', 'set-cookie', 'authorization', 'proxy-authorization'];

/** Lower-cased names to redact; null means redaction is off. */
export type Redaction = ReadonlySet<string> | null;

export function redaction(options: RedactOptions | null | undefined): Redaction {
  if (!options) return null;
  return new Set([...CREDENTIAL_HEADERS, ...options.headers.map((h) => h.trim().toLowerCase())]);
}

export function harHeaders(headers: readonly Header[], redact: Redaction): HarNameValue[] {
  const out: HarNameValue[] = [];
  for (const [name, value] of headers) {
    out.push({ name, value: redact?.has(name.toLowerCase()) ? REDACTED : value });
  }
  return out;
}

/** Cookie lists keep names and attributes (useful for debugging) but lose their values. */
export function redactCookies(cookies: HarCookie[], redact: Redaction): HarCookie[] {
  if (!redact) return cookies;
  for (const c of cookies) c.value = REDACTED;
  return cookies;
}
