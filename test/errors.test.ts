import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { ERROR_CODES, statusFor, type ErrorCode } from '../src/errors.js';
import { rawErrorResponse } from '../src/proxy/error-response.js';

const CODES = Object.keys(ERROR_CODES) as ErrorCode[];
const ERRORS_DOC = new URL('../docs/ERRORS.md', import.meta.url);

test('statusFor: upstream timeouts are 504, other upstream failures 502, client mistakes 4xx', () => {
  assert.equal(statusFor('MITM_ERR_UPSTREAM_TIMEOUT'), 504);
  for (const code of ['MITM_ERR_UPSTREAM_DNS', 'MITM_ERR_UPSTREAM_CONNECT', 'MITM_ERR_UPSTREAM_TLS', 'MITM_ERR_UPSTREAM_RESET', 'MITM_ERR_UPSTREAM_PROTOCOL'] as const) {
    assert.equal(statusFor(code), 502, code);
  }
  assert.deepEqual(
    (['MITM_ERR_BAD_REQUEST', 'MITM_ERR_API_BAD_INPUT', 'MITM_ERR_HAR_INVALID', 'MITM_ERR_AUTH_TOKEN', 'MITM_ERR_AUTH_HOST', 'MITM_ERR_AUTH_ORIGIN', 'MITM_ERR_NOT_FOUND', 'MITM_ERR_TOO_LARGE', 'MITM_ERR_HEADERS_TOO_LARGE', 'MITM_ERR_CLIENT_TIMEOUT'] as const).map((c) => [c, statusFor(c)]),
    [
      ['MITM_ERR_BAD_REQUEST', 400],
      ['MITM_ERR_API_BAD_INPUT', 400],
      ['MITM_ERR_HAR_INVALID', 400],
      ['MITM_ERR_AUTH_TOKEN', 401],
      ['MITM_ERR_AUTH_HOST', 403],
      ['MITM_ERR_AUTH_ORIGIN', 403],
      ['MITM_ERR_NOT_FOUND', 404],
      ['MITM_ERR_TOO_LARGE', 413],
      ['MITM_ERR_HEADERS_TOO_LARGE', 431],
      ['MITM_ERR_CLIENT_TIMEOUT', 408],
    ],
  );
});

test('statusFor gives every code an error status', () => {
  for (const code of CODES) {
    const status = statusFor(code);
    assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code} → ${status}`);
  }
});

test('every code is documented in docs/ERRORS.md with the status statusFor gives it, and nothing else is', async () => {
  const doc = await readFile(ERRORS_DOC, 'utf8');
  const rows = new Map<string, number>();
  for (const m of doc.matchAll(/^\| `(MITM_ERR_[A-Z0-9_]+)` \| (\d{3}) \|/gm)) rows.set(m[1]!, Number(m[2]));
  assert.deepEqual([...rows.keys()].sort(), [...CODES].sort());
  for (const code of CODES) assert.equal(rows.get(code), statusFor(code), code);
});

test('a raw error answer is one complete HTTP/1.1 response carrying status, code and message', () => {
  const raw = rawErrorResponse({ code: 'MITM_ERR_UPSTREAM_TLS', message: 'TLS handshake with example.test:443 failed: certificate has expired' });
  const [head, body] = raw.split('\r\n\r\n');
  const lines = head!.split('\r\n');
  assert.equal(lines[0], 'HTTP/1.1 502 Bad Gateway');
  const headers = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 2)]));
  assert.equal(headers.get('x-mitmscope-error'), 'MITM_ERR_UPSTREAM_TLS');
  assert.equal(headers.get('connection'), 'close');
  assert.equal(body, 'mitmscope: TLS handshake with example.test:443 failed: certificate has expired\n');
  assert.equal(Number(headers.get('content-length')), Buffer.byteLength(body!));
});
