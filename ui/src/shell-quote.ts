/**
 * Quoting for the commands "Copy as" writes. Every function returns a literal that its
 * interpreter reads back as exactly the given text and never as code: captured requests are
 * hostile, and a pasted command must not run anything the request did not contain.
 */

/** POSIX sh: single quotes take everything literally (newlines too); a quote is closed, escaped, reopened. */
export function posix(s: string): string {
  if (/^[A-Za-z0-9_\-.,:/@%+=]+$/.test(s)) return s;
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Characters cmd.exe and the MS C runtime both pass through unchanged outside quotes. */
const CMD_SAFE = /[A-Za-z0-9 _\-:=+~'/.,?;*`]/;

/** True when cmd.exe cannot carry `s` in one argument at all (line breaks end the command). */
export function cmdUnsafe(s: string): boolean {
  return /[\x00-\x1f\x7f]/.test(s);
}

/**
 * cmd.exe: the argument is wrapped in caret-escaped quotes (`^"…^"`) so cmd itself sees no
 * quoting and honours a caret before every other character; the C runtime then sees `"…"`
 * with `\"` and `\\` escapes. `%` is followed by a caret so `%NAME%` can never expand.
 * Callers must check `cmdUnsafe` first: control characters cannot be quoted for cmd.
 */
export function cmd(s: string): string {
  let out = '';
  // Backslashes before a quote (or the closing quote) are doubled, as the C runtime expects.
  const escaped = s.replace(/(\\*)"/g, '$1$1\\"').replace(/(\\+)$/, '$1$1');
  for (const ch of escaped) out += CMD_SAFE.test(ch) ? ch : `^${ch}`;
  return `^"${out.replace(/%(?=[A-Za-z0-9_])/g, '%^')}^"`;
}

/** A JavaScript string literal (JSON is valid JavaScript since ES2019). */
export function js(s: string): string {
  return JSON.stringify(s);
}

/** A Python str literal in plain ASCII: printable characters as is, the rest as escapes. */
export function pyStr(s: string): string {
  let out = "'";
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === "'" || ch === '\\') out += `\\${ch}`;
    else if (c >= 0x20 && c < 0x7f) out += ch;
    else if (c <= 0xff) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c <= 0xffff) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += `\\U${c.toString(16).padStart(8, '0')}`;
  }
  return `${out}'`;
}

/** A Python bytes literal: exactly these bytes, in ASCII. */
export function pyBytes(bytes: Uint8Array): string {
  let out = "b'";
  for (const b of bytes) {
    if (b === 0x27 || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `${out}'`;
}
