import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { HAR_IMPORT_LIMIT_BYTES } from '../../src/dashboard/api.js';
import { makeFlow, request, startHarness, TOKEN } from './harness.js';

/** Longest a raw exchange may take: the server must answer promptly, not wait for more bytes. */
const RAW_DEADLINE_MS = 5000;

/** Sends raw bytes and returns everything the server answers until it closes or goes quiet. */
function rawExchange(port: number, data: string, quietMs = 300): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | null = null;
    const deadline = setTimeout(() => done(), RAW_DEADLINE_MS);
    const done = (): void => {
      clearTimeout(deadline);
      if (timer) clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      if (timer) clearTimeout(timer);
      timer = setTimeout(done, quietMs);
    });
    socket.on('end', done);
    socket.on('error', reject);
    socket.write(data);
  });
}

test('requests without the token are refused with 401: JSON for the API, text for pages', async (t) => {
  const h = await startHarness(t);
  const api = await request(h.port, { path: '/api/flows', auth: false });
  assert.equal(api.status, 401);
  assert.match(String(api.headers['content-type']), /^application\/json/);
  assert.equal((api.json() as { code: string }).code, 'MITM_ERR_AUTH_TOKEN');
  const page = await request(h.port, { path: '/', auth: false });
  assert.equal(page.status, 401);
  assert.match(String(page.headers['content-type']), /^text\/plain/);
  assert.equal(page.headers['x-mitmscope-error'], 'MITM_ERR_AUTH_TOKEN');
  for (const method of ['DELETE', 'POST']) {
    const path = method === 'DELETE' ? '/api/flows' : '/api/har';
    assert.equal((await request(h.port, { method, path, auth: false, body: '{}' })).status, 401, method);
  }
});

test('a wrong bearer token, of any length, is refused', async (t) => {
  const h = await startHarness(t);
  for (const wrong of ['x', `${TOKEN}x`, TOKEN.slice(0, -1), TOKEN.toUpperCase(), '']) {
    const res = await request(h.port, { path: '/api/flows', auth: false, headers: { authorization: `Bearer ${wrong}` } });
    assert.equal(res.status, 401, JSON.stringify(wrong));
    assert.equal((res.json() as { code: string }).code, 'MITM_ERR_AUTH_TOKEN', JSON.stringify(wrong));
  }
  const right = await request(h.port, { path: '/api/flows', auth: false, headers: { authorization: `bearer ${TOKEN}` } });
  assert.equal(right.status, 200);
});

test('?token= on a page sets an HttpOnly SameSite=Strict cookie and redirects to the URL without the token', async (t) => {
  const h = await startHarness(t);
  const res = await request(h.port, { path: `/flows?view=list&token=${TOKEN}&x=1`, auth: false });
  assert.equal(res.status, 303);
  assert.equal(res.headers.location, '/flows?view=list&x=1');
  const cookie = res.headers['set-cookie']?.[0] ?? '';
  assert.match(cookie, new RegExp(`^mitmscope_token_${h.port}=`));
  assert.match(cookie, /; HttpOnly/);
  assert.match(cookie, /; SameSite=Strict/);
  assert.match(cookie, /; Path=\//);

  const pair = cookie.split(';')[0]!;
  const withCookie = await request(h.port, { path: '/api/flows', auth: false, headers: { cookie: `other=1; ${pair}` } });
  assert.equal(withCookie.status, 200);
  const badCookie = await request(h.port, { path: '/api/flows', auth: false, headers: { cookie: `mitmscope_token_${h.port}=nope` } });
  assert.equal(badCookie.status, 401);
});

test('?token= on an API request answers at once (fetch keeps no cookies across redirects) and sets the cookie', async (t) => {
  const h = await startHarness(t);
  h.store.add(makeFlow({ status: 200 }));
  const res = await fetch(`${h.base}/api/flows?token=${TOKEN}`);
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as unknown[]).length, 1);
  assert.match(res.headers.get('set-cookie') ?? '', /HttpOnly; SameSite=Strict; Path=\//);
});

test('a wrong ?token= is refused without a cookie', async (t) => {
  const h = await startHarness(t);
  const res = await request(h.port, { path: '/?token=wrong', auth: false });
  assert.equal(res.status, 401);
  assert.equal(res.headers['set-cookie'], undefined);
});

test('the token redirect cannot be turned into an open redirect with a //host path', async (t) => {
  const h = await startHarness(t);
  // The last three survive a naive leading-slash fix: URL parsing turns them into `//evil.example/`.
  for (const path of ['//evil.example/', '/.//evil.example/', '/%2e//evil.example/', '/a/..//evil.example/']) {
    const res = await request(h.port, { path: `${path}?token=${TOKEN}`, auth: false });
    assert.equal(res.status, 303, path);
    assert.equal(res.headers.location, '/evil.example/', path);
  }
});

test('a Host that is not the dashboard is refused with 403 everywhere, even with the token (DNS rebinding)', async (t) => {
  const h = await startHarness(t);
  for (const host of ['evil.example', `evil.example:${h.port}`, '127.evil.example', 'localhost.evil.example', `attacker.com:${h.port}`, 'localhost@evil.example']) {
    for (const path of ['/api/flows', '/', '/ca.pem', '/api/status']) {
      const res = await request(h.port, { path, headers: { host } });
      assert.equal(res.status, 403, `${host} ${path}`);
      assert.equal(res.headers['x-mitmscope-error'], 'MITM_ERR_AUTH_HOST', `${host} ${path}`);
    }
  }
});

test('loopback names, *.localhost, the bound address and --ui-host names are accepted as Host', async (t) => {
  const h = await startHarness(t, { uiHosts: ['dash.example', 'Proxy.Example:9443'] });
  const ok = ['localhost', `localhost:${h.port}`, 'LOCALHOST.', `127.0.0.1:${h.port}`, '127.0.0.2', `[::1]:${h.port}`, 'app.localhost', 'dash.example', 'dash.example:1234', 'proxy.example:9443'];
  for (const host of ok) assert.equal((await request(h.port, { path: '/api/flows', headers: { host } })).status, 200, host);
  for (const host of ['proxy.example', 'proxy.example:9444', '[::2]']) {
    assert.equal((await request(h.port, { path: '/api/flows', headers: { host } })).status, 403, host);
  }
});

test('an absolute-form request for a foreign authority is refused even with a loopback Host header', async (t) => {
  const h = await startHarness(t);
  const foreign = await rawExchange(h.port, `GET http://evil.example/api/flows HTTP/1.1\r\nHost: localhost:${h.port}\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`);
  assert.match(foreign, /^HTTP\/1\.1 403 /);
  assert.match(foreign, /\r\nX-Mitmscope-Error: MITM_ERR_AUTH_HOST\r\n/i);
  const own = await rawExchange(h.port, `GET http://localhost:${h.port}/api/flows HTTP/1.1\r\nHost: localhost:${h.port}\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`);
  assert.match(own, /^HTTP\/1\.1 200 /);
});

test('an HTTP/1.0 request without a Host header is refused', async (t) => {
  const h = await startHarness(t);
  const answer = await rawExchange(h.port, `GET /api/flows HTTP/1.0\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
  assert.match(answer, /^HTTP\/1\.1 403 /);
});

test('a state-changing request with a foreign Origin is refused with 403 and changes nothing', async (t) => {
  const h = await startHarness(t);
  h.store.add(makeFlow({ status: 200 }));
  const foreign = ['http://evil.example', `http://evil.example:${h.port}`, 'null', `http://localhost:${h.port + 1}`, `https://localhost:${h.port}0`, 'file://'];
  for (const origin of foreign) {
    const del = await request(h.port, { method: 'DELETE', path: '/api/flows', headers: { origin } });
    assert.equal(del.status, 403, origin);
    assert.equal((del.json() as { code: string }).code, 'MITM_ERR_AUTH_ORIGIN', origin);
    const post = await request(h.port, { method: 'POST', path: '/api/har', headers: { origin, 'content-type': 'text/plain' }, body: '{}' });
    assert.equal(post.status, 403, origin);
    assert.equal((post.json() as { code: string }).code, 'MITM_ERR_AUTH_ORIGIN', origin);
  }
  assert.equal(h.store.size, 1);
  // GET is not state-changing; the token and the same-origin policy protect reads.
  assert.equal((await request(h.port, { path: '/api/flows', headers: { origin: 'http://evil.example' } })).status, 200);
});

test('a state-changing request from the dashboard origin itself is allowed', async (t) => {
  const h = await startHarness(t, { uiHosts: ['dash.example'] });
  for (const [origin, host] of [
    [`http://localhost:${h.port}`, `localhost:${h.port}`],
    [`http://127.0.0.1:${h.port}`, `localhost:${h.port}`],
    [`http://[::1]:${h.port}`, `[::1]:${h.port}`],
    // A TLS reverse proxy in front: the origin is exactly the authority the request was sent to.
    ['https://dash.example', 'dash.example'],
  ]) {
    const res = await request(h.port, { method: 'DELETE', path: '/api/flows', headers: { origin: origin!, host: host! } });
    assert.equal(res.status, 200, `${origin} via ${host}`);
  }
});

const EXPECTED_CSP_PARTS = ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "connect-src 'self'"];

test('every response carries the CSP and hardening headers, and no X-Powered-By', async (t) => {
  const h = await startHarness(t, { ui: true });
  const flow = makeFlow({ status: 200, responseBody: Buffer.from('x') });
  h.store.add(flow);
  const cases: [string, Parameters<typeof request>[1], number, string?][] = [
    ['api', { path: '/api/flows' }, 200],
    ['page', { path: '/' }, 200],
    ['asset', { path: '/app.js' }, 200],
    ['ca', { path: '/ca.pem', auth: false }, 200],
    ['401', { path: '/api/flows', auth: false }, 401, 'MITM_ERR_AUTH_TOKEN'],
    ['403 host', { path: '/api/flows', headers: { host: 'evil.example' } }, 403, 'MITM_ERR_AUTH_HOST'],
    ['403 origin', { method: 'DELETE', path: '/api/flows', headers: { origin: 'http://evil.example' } }, 403, 'MITM_ERR_AUTH_ORIGIN'],
    ['404', { path: '/nothing' }, 404, 'MITM_ERR_NOT_FOUND'],
    ['redirect', { path: `/?token=${TOKEN}`, auth: false }, 303],
    ['body', { path: `/api/flows/${flow.id}/response/body` }, 200],
  ];
  for (const [name, req, status, code] of cases) {
    const res = await request(h.port, req);
    assert.equal(res.status, status, name);
    assert.equal(res.headers['x-mitmscope-error'], code, name);
    assert.equal(res.headers['x-content-type-options'], 'nosniff', name);
    assert.equal(res.headers['referrer-policy'], 'no-referrer', name);
    assert.equal(res.headers['x-frame-options'], 'DENY', name);
    assert.equal(res.headers['x-powered-by'], undefined, name);
    const csp = String(res.headers['content-security-policy']);
    if (name === 'body') assert.equal(csp, "sandbox; default-src 'none'");
    else for (const part of EXPECTED_CSP_PARTS) assert.ok(csp.includes(part), `${name}: ${csp} lacks ${part}`);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, name);
  }
});

test(`POST /api/har refuses a body over ${HAR_IMPORT_LIMIT_BYTES} bytes with 413 before reading it`, async (t) => {
  const h = await startHarness(t);
  const head =
    `POST /api/har HTTP/1.1\r\nHost: localhost:${h.port}\r\nAuthorization: Bearer ${TOKEN}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${HAR_IMPORT_LIMIT_BYTES + 1}\r\n\r\n{"log":`;
  const answer = await rawExchange(h.port, head);
  assert.match(answer, /^HTTP\/1\.1 413 /);
  assert.match(answer, /\r\nX-Mitmscope-Error: MITM_ERR_TOO_LARGE\r\n/i);
  assert.match(answer, /"code":"MITM_ERR_TOO_LARGE"/);
  assert.equal(h.store.size, 0);
});
