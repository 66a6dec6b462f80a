/**
 * Cookie and Set-Cookie header values parsed into HAR cookie objects (RFC 6265 §4.1, §5.2),
 * leniently: a debugging tool shows what was sent, valid or not.
 */
import type { Header } from '../capture/flow.js';
import type { HarCookie } from './types.js';

/** `a=1; b=2` from every Cookie header, in order. A pair without `=` is a name with an empty value. */
export function requestCookies(headers: readonly Header[]): HarCookie[] {
  const out: HarCookie[] = [];
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== 'cookie') continue;
    for (const part of value.split(';')) {
      const pair = part.trim();
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      out.push(eq < 0 ? { name: pair, value: '' } : { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim() });
    }
  }
  return out;
}

function isoOrUndefined(ms: number): string | undefined {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : undefined;
}

/**
 * One cookie per Set-Cookie header. `Max-Age` wins over `Expires` (RFC 6265 §5.3 step 3) and is
 * turned into a date relative to when the response arrived (`receivedAt`, epoch ms).
 */
export function responseCookies(headers: readonly Header[], receivedAt: number): HarCookie[] {
  const out: HarCookie[] = [];
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== 'set-cookie') continue;
    const [first = '', ...attributes] = value.split(';');
    const eq = first.indexOf('=');
    const cookie: HarCookie = eq < 0 ? { name: '', value: first.trim() } : { name: first.slice(0, eq).trim(), value: first.slice(eq + 1).trim() };
    let maxAge: number | null = null;
    let expires: string | undefined;
    for (const attr of attributes) {
      const i = attr.indexOf('=');
      const key = (i < 0 ? attr : attr.slice(0, i)).trim().toLowerCase();
      const val = i < 0 ? '' : attr.slice(i + 1).trim();
      if (key === 'path') cookie.path = val;
      else if (key === 'domain') cookie.domain = val;
      else if (key === 'httponly') cookie.httpOnly = true;
      else if (key === 'secure') cookie.secure = true;
      else if (key === 'expires') expires = isoOrUndefined(Date.parse(val));
      else if (key === 'max-age' && /^-?\d+$/.test(val)) maxAge = Number(val);
    }
    // A non-positive Max-Age means "expire now" (RFC 6265 §5.2.2): the earliest date there is.
    const fromMaxAge = maxAge === null ? undefined : isoOrUndefined(maxAge <= 0 ? 0 : receivedAt + maxAge * 1000);
    const when = fromMaxAge ?? expires;
    if (when !== undefined) cookie.expires = when;
    cookie.httpOnly ??= false;
    cookie.secure ??= false;
    out.push(cookie);
  }
  return out;
}
