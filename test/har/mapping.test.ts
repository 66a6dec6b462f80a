import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { flowToEntry, flowsToHar } from '../../src/har/mapping.js';
import { ALL, binary, binaryUpload, brResponse, getJson, gzipResponse, GZIP_TEXT, noContent, notModified, postForm, redirect, T0, truncated, TRUNCATE_AT, truncatedGzip, tunnel, upstreamFailure, webSocket, tlsFailure } from './fixtures/flows.js';
import { assertValidHar } from './fixtures/validate.js';
import { readFileSync } from 'node:fs';

describe('HAR export', () => {
  for (const [name, make] of Object.entries(ALL)) {
    test(`har-validator accepts the export of ${name}`, async () => {
      await assertValidHar(flowsToHar([make()]), name);
    });
  }

  test('har-validator accepts every fixture together in one log', async () => {
    const har = flowsToHar(Object.values(ALL).map((make) => make()));
    assert.equal(har.log.entries.length, Object.keys(ALL).length);
    await assertValidHar(har);
  });

  test('the creator is mitmscope with the version from package.json, or the one passed in', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.deepEqual(flowsToHar([]).log.creator, { name: 'mitmscope', version: pkg.version });
    assert.equal(flowsToHar([], { creatorVersion: '9.9.9' }).log.creator.version, '9.9.9');
    assert.equal(flowsToHar([]).log.version, '1.2');
  });

  test('connect includes ssl, the other phases are copied, and time sums the phases once', () => {
    const e = flowToEntry(getJson());
    assert.deepEqual(e.timings, { blocked: 0.512, dns: 3.25, connect: 35.5, ssl: 25.375, send: 0.201, wait: 40.333, receive: 1.75 });
    assert.equal(e.time, 81.546);
    assert.equal(e.startedDateTime, new Date(T0).toISOString());
  });

  test('phases that did not happen are -1 and do not count in time', () => {
    const e = flowToEntry(upstreamFailure());
    assert.deepEqual(e.timings, { blocked: 0.2, dns: 1.5, connect: -1, ssl: -1, send: 0, wait: 0, receive: 0 });
    assert.equal(e.time, 1.7);
    const plain = flowToEntry(redirect());
    assert.equal(plain.timings.ssl, -1);
    assert.equal(plain.timings.connect, 10.125);
  });

  test('the request keeps wire order, parses cookies and the query string, and measures its header block', () => {
    const flow = getJson();
    const r = flowToEntry(flow).request;
    assert.equal(r.method, 'GET');
    assert.equal(r.httpVersion, 'HTTP/1.1');
    assert.deepEqual(
      r.headers.map((h) => h.name),
      flow.request.headers.map(([n]) => n),
    );
    assert.deepEqual(r.cookies, [
      { name: 'session', value: 's3cr3t-session' },
      { name: 'theme', value: 'dark' },
    ]);
    assert.deepEqual(r.queryString, [
      { name: 'page', value: '2' },
      { name: 'q', value: 'hello world' },
      { name: 'tag', value: 'a' },
      { name: 'tag', value: 'b' },
    ]);
    const block = `GET /v1/items?page=2&q=hello%20world&tag=a&tag=b HTTP/1.1\r\n${flow.request.headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
    assert.equal(r.headersSize, block.length);
    assert.equal(r.bodySize, 0);
    assert.equal(r.postData, undefined);
  });

  test('the response parses Set-Cookie into cookies with ISO expiry, Max-Age winning over Expires', () => {
    const e = flowToEntry(getJson());
    assert.deepEqual(e.response.cookies, [
      { name: 'session', value: 'n3w-s3cr3t', path: '/', domain: 'example.com', expires: '2026-03-15T09:26:53.000Z', httpOnly: true, secure: true },
      { name: 'seen', value: '1', expires: new Date(T0 + 3600_000).toISOString(), httpOnly: false, secure: false },
    ]);
    assert.equal(e.response.status, 200);
    assert.equal(e.response.httpVersion, 'HTTP/1.1');
    assert.equal(e.response.content.mimeType, 'application/json; charset=utf-8');
    assert.match(e.response.content.text ?? '', /naïve café ☕/);
    assert.equal(e.response.content.encoding, undefined);
    assert.equal(e.response.content.size, Buffer.byteLength(e.response.content.text ?? ''));
    assert.equal(e.serverIPAddress, '93.184.216.34');
    assert.equal(e.connection, 'server-api.example.com');
    assert.deepEqual(e.cache, {});
  });

  test('a urlencoded form carries the exact text and the decoded params', () => {
    const pd = flowToEntry(postForm()).request.postData;
    assert.deepEqual(pd, {
      mimeType: 'application/x-www-form-urlencoded',
      text: 'name=Ada+Lovelace&lang=en&emoji=%F0%9F%98%80&empty=',
      params: [
        { name: 'name', value: 'Ada Lovelace' },
        { name: 'lang', value: 'en' },
        { name: 'emoji', value: '😀' },
        { name: 'empty', value: '' },
      ],
    });
  });

  test('a binary upload is base64 text with _encoding', () => {
    const flow = binaryUpload();
    const r = flowToEntry(flow).request;
    assert.equal(r.postData?._encoding, 'base64');
    assert.equal(r.postData?.mimeType, 'application/octet-stream');
    assert.deepEqual(Buffer.from(r.postData?.text ?? '', 'base64'), binary(3000));
    assert.equal(r.bodySize, 3000);
  });

  test('gzip and br bodies are decoded: size is decoded, compression is what the coding saved', () => {
    const gz = gzipResponse();
    const c = flowToEntry(gz).response.content;
    assert.equal(c.text, GZIP_TEXT);
    assert.equal(c.size, Buffer.byteLength(GZIP_TEXT));
    assert.equal(c.compression, Buffer.byteLength(GZIP_TEXT) - gz.response!.body.length);
    assert.equal(flowToEntry(gz).response.bodySize, gz.response!.body.length);
    const br = flowToEntry(brResponse()).response.content;
    assert.match(br.text ?? '', /^<!doctype html>/);
    assert.ok((br.compression ?? 0) > 0);
  });

  test('a binary download is base64 with encoding', () => {
    const c = flowToEntry(ALL['a binary download']!()).response.content;
    assert.equal(c.encoding, 'base64');
    assert.equal(c.mimeType, 'image/png');
    assert.equal(Buffer.from(c.text ?? '', 'base64').subarray(1, 4).toString(), 'PNG');
  });

  test('truncation is stated in the comment and the kept bytes are exported', () => {
    const e = flowToEntry(truncated());
    assert.equal(e.comment, `response body truncated at ${TRUNCATE_AT} of 10000 bytes`);
    assert.equal(e.response.content.text, 'x'.repeat(TRUNCATE_AT));
    assert.equal(e.response.content.size, 10000);
    assert.equal(e.response.bodySize, 10000);
  });

  test('a truncated compressed body stays encoded, base64, with _contentEncoding', () => {
    const flow = truncatedGzip();
    const e = flowToEntry(flow);
    assert.equal(e.response.content._contentEncoding, 'gzip');
    assert.equal(e.response.content.encoding, 'base64');
    assert.equal(e.response.content.compression, undefined);
    assert.equal(e.response.content.size, flow.response!.bodySize);
    assert.deepEqual(Buffer.from(e.response.content.text ?? '', 'base64'), flow.response!.body);
    assert.match(e.comment ?? '', /response body truncated at 4096 of \d+ bytes/);
  });

  test('204 and 304 have empty content', () => {
    for (const flow of [noContent(), notModified()]) {
      const e = flowToEntry(flow);
      assert.deepEqual(e.response.content, { size: 0, mimeType: '' });
      assert.equal(e.response.bodySize, 0);
    }
  });

  test('a redirect gives redirectURL from Location', () => {
    assert.equal(flowToEntry(redirect()).response.redirectURL, 'https://example.com/new');
    assert.equal(flowToEntry(postForm()).response.redirectURL, '/thanks');
    assert.equal(flowToEntry(getJson()).response.redirectURL, '');
  });

  test('a failed exchange has a status 0 response and _error', () => {
    const e = flowToEntry(upstreamFailure());
    assert.equal(e.response.status, 0);
    assert.equal(e.response.statusText, '');
    assert.equal(e.response.bodySize, -1);
    assert.deepEqual(e._error, { stage: 'connect', code: 'MITM_ERR_UPSTREAM_CONNECT', message: 'TCP connection to down.example.com failed: connection refused' });
    assert.equal(e.comment, undefined);
    assert.equal(e.serverIPAddress, undefined);
  });

  test('a flow still in flight says so in the comment', () => {
    const flow = getJson();
    flow.response = null;
    flow.state = 'pending';
    const e = flowToEntry(flow);
    assert.equal(e.response.status, 0);
    assert.match(e.comment ?? '', /still in progress/);
  });

  test('both TLS handshakes are in _tls, copied rather than shared', () => {
    const flow = getJson();
    const e = flowToEntry(flow);
    assert.deepEqual(e._tls?.client, flow.clientConnection?.tls);
    assert.deepEqual(e._tls?.server, flow.serverConnection?.tls);
    assert.notEqual(e._tls?.server, flow.serverConnection?.tls);
    assert.equal(e._tls?.server?.events[1]?.type, 'ClientHello');
    assert.equal(flowToEntry(redirect())._tls, undefined);
    const failed = flowToEntry(tlsFailure());
    assert.equal(failed._kind, 'tls-failure');
    assert.equal(failed._tls?.server, null);
    assert.match(failed._tls?.client?.error ?? '', /bad_certificate/);
  });

  test('a WebSocket flow has Chrome-shaped _webSocketMessages and _resourceType', () => {
    const e = flowToEntry(webSocket());
    assert.equal(e._resourceType, 'websocket');
    assert.equal(e.request.url, 'wss://chat.example.com/socket');
    assert.equal(e.response.status, 101);
    assert.deepEqual(e._webSocketMessages?.[0], { type: 'send', time: T0 / 1000 + 0.1, opcode: 1, data: '{"hello":"☕"}' });
    assert.deepEqual(e._webSocketMessages?.[3], { type: 'receive', time: T0 / 1000 + 0.3, opcode: 1, data: 'y'.repeat(1024), size: 70_000, truncated: true });
    assert.deepEqual(e._webSocket, { protocol: 'chat', extensions: null, closeCode: 1000, closeReason: 'bye', closedBy: 'client' });
  });

  test('a raw tunnel exports its authority as a tcp:// URL with sizes but no bodies', () => {
    const e = flowToEntry(tunnel());
    assert.equal(e.request.url, 'tcp://pinned.example.com:443');
    assert.equal(e.request.method, 'CONNECT');
    assert.equal(e.request.postData, undefined);
    assert.equal(e.request.bodySize, 5120);
    assert.deepEqual(e.response.content, { size: 18_000, mimeType: '' });
    assert.equal(e.request.headersSize, -1);
    assert.equal(e.serverIPAddress, '2606:2800:220:1:248:1893:25c8:1946');
    assert.deepEqual(e._notes, ['ignored host: matches --ignore-hosts pinned\\.example\\.com']);
    assert.equal(e._kind, 'tunnel');
  });
});
