import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { isMitmError } from '../../src/errors.js';
import { findJsonSyntaxError } from '../../src/har/json-error.js';
import { flowsToHar, harToFlows } from '../../src/har/mapping.js';
import type { Har } from '../../src/har/types.js';
import { ALL, binaryUpload, getJson, GZIP_TEXT, gzipResponse, truncated, truncatedGzip, TRUNCATE_AT, webSocket } from './fixtures/flows.js';
import { assertValidHar } from './fixtures/validate.js';

function harError(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(isMitmError(err), `expected a MitmError, got ${String(err)}`);
    return { code: err.code, message: err.message };
  }
  assert.fail('expected an error');
}

function minimalHar(): Har {
  return {
    log: {
      version: '1.2',
      creator: { name: 'test', version: '1' },
      entries: [
        {
          startedDateTime: '2026-03-14T09:26:53.589Z',
          time: 12,
          request: { method: 'GET', url: 'https://example.com/a?b=1', httpVersion: 'HTTP/1.1', cookies: [], headers: [{ name: 'Host', value: 'example.com' }], queryString: [], headersSize: -1, bodySize: 0 },
          response: {
            status: 200,
            statusText: 'OK',
            httpVersion: 'HTTP/1.1',
            cookies: [],
            headers: [{ name: 'Content-Type', value: 'text/plain' }],
            content: { size: 5, mimeType: 'text/plain', text: 'hello' },
            redirectURL: '',
            headersSize: -1,
            bodySize: 5,
          },
          cache: {},
          timings: { send: 1, wait: 10, receive: 1 },
        },
      ],
    },
  };
}

describe('HAR import', () => {
  test('export → import → export gives the same entries for every fixture', async () => {
    const flows = Object.values(ALL).map((make) => make());
    const first = flowsToHar(flows);
    const imported = harToFlows(JSON.stringify(first));
    assert.equal(imported.length, flows.length);
    const second = flowsToHar(imported);
    assert.deepEqual(second, first);
    await assertValidHar(second);
  });

  test('imported flows are new, marked imported, and get their bodies, TLS and errors back', () => {
    const source = [getJson(), binaryUpload(), gzipResponse(), truncated(), truncatedGzip(), webSocket(), ALL['an upstream failure']!()];
    const [get, upload, gz, cut, cutGz, ws, failed] = harToFlows(flowsToHar(source));
    for (const f of [get, upload, gz, cut, cutGz, ws, failed]) {
      assert.equal(f!.imported, true);
      assert.ok(!source.some((s) => s.id === f!.id));
    }
    assert.equal(get!.state, 'complete');
    assert.equal(get!.host, 'api.example.com');
    assert.equal(get!.port, 443);
    assert.equal(get!.scheme, 'https');
    assert.equal(get!.request.httpVersion, '1.1');
    assert.deepEqual(get!.request.headers, source[0]!.request.headers);
    assert.deepEqual(get!.response?.body, source[0]!.response?.body);
    assert.deepEqual(get!.serverConnection?.tls, source[0]!.serverConnection?.tls);
    assert.deepEqual(get!.clientConnection?.tls, source[0]!.clientConnection?.tls);
    assert.equal(get!.serverConnection?.id, 'server-api.example.com');
    assert.deepEqual(get!.timings, source[0]!.timings);
    assert.deepEqual(upload!.request.body, source[1]!.request.body);
    // The captured body is the wire form again: gzip, decoding to the original text.
    assert.equal(gunzipSync(gz!.response!.body).toString(), GZIP_TEXT);
    assert.equal(gz!.response!.bodySize, source[2]!.response!.bodySize);
    assert.equal(cut!.response!.bodyTruncated, true);
    assert.equal(cut!.response!.body.length, TRUNCATE_AT);
    assert.deepEqual(cutGz!.response!.body, source[4]!.response!.body);
    assert.equal(cutGz!.response!.bodyTruncated, true);
    assert.equal(ws!.kind, 'websocket');
    assert.deepEqual(ws!.websocket, source[5]!.websocket);
    assert.equal(failed!.state, 'error');
    assert.equal(failed!.response, null);
    assert.deepEqual(failed!.error, source[6]!.error);
  });

  test('flows that shared an upstream connection share it again after import', () => {
    const a = getJson();
    const b = getJson();
    const [x, y] = harToFlows(flowsToHar([a, b]));
    assert.equal(x!.serverConnection, y!.serverConnection);
  });

  test('bad JSON is rejected with its line, column and position', () => {
    const e = harError(() => harToFlows('{"log": {"entries": [}'));
    assert.equal(e.code, 'MITM_ERR_HAR_INVALID');
    assert.match(e.message, /line 1, column 22 \(position 21\)/);
    const e2 = harError(() => harToFlows('{\n  "log": {\n    "entries": [1,]\n  }\n}'));
    assert.match(e2.message, /line 3, column 19 \(position 31\): unexpected "\]", expected a value/);
    const e3 = harError(() => harToFlows('{"log": '));
    assert.match(e3.message, /position 8\): unexpected end of input/);
  });

  test('a missing request URL is named by its JSON path', () => {
    const har = minimalHar();
    delete (har.log.entries[0]!.request as Partial<Har['log']['entries'][0]['request']>).url;
    const e = harError(() => harToFlows(har));
    assert.equal(e.code, 'MITM_ERR_HAR_INVALID');
    assert.match(e.message, /log\.entries\[0\]\.request\.url is missing/);
  });

  test('other structural problems name the first offending path', () => {
    const cases: [unknown, RegExp][] = [
      [[], /must be a JSON object/],
      [{}, /^log is missing/],
      [{ log: { entries: {} } }, /^log\.entries must be an array/],
      [{ log: { entries: [null] } }, /^log\.entries\[0\] must be an object/],
    ];
    for (const [input, re] of cases) assert.match(harError(() => harToFlows(input)).message, re);
    const bad = minimalHar();
    (bad.log.entries[0]!.response as { status: unknown }).status = '200';
    assert.match(harError(() => harToFlows(bad)).message, /^log\.entries\[0\]\.response\.status must be a number/);
    const badHeader = minimalHar();
    (badHeader.log.entries[0]!.request.headers[0] as { value: unknown }).value = 7;
    assert.match(harError(() => harToFlows(badHeader)).message, /^log\.entries\[0\]\.request\.headers\[0\]\.value must be a string/);
    const badDate = minimalHar();
    badDate.log.entries[0]!.startedDateTime = 'yesterday';
    assert.match(harError(() => harToFlows(badDate)).message, /startedDateTime is not a date/);
    const badUrl = minimalHar();
    badUrl.log.entries[0]!.request.url = '/relative';
    assert.match(harError(() => harToFlows(badUrl)).message, /request\.url is not an absolute URL/);
  });

  test('a browser-style HAR imports: decoded gzip text, params-only form, status 0 with a string _error, BOM', () => {
    const har = minimalHar();
    const entry = har.log.entries[0]!;
    entry.response.headers.push({ name: 'Content-Encoding', value: 'gzip' });
    entry.response.bodySize = 40;
    entry.request.method = 'POST';
    entry.request.postData = { mimeType: 'application/x-www-form-urlencoded', params: [{ name: 'a', value: 'x y' }, { name: 'b' }] };
    const failed = structuredClone(entry);
    failed.response = { status: 0, statusText: '', httpVersion: '', cookies: [], headers: [], content: { size: 0, mimeType: 'x-unknown' }, redirectURL: '', headersSize: -1, bodySize: -1 };
    (failed as unknown as { _error: string })._error = 'net::ERR_CONNECTION_REFUSED';
    har.log.entries.push(failed);
    const [ok, refused] = harToFlows(`\uFEFF${JSON.stringify(har)}`);
    assert.equal(gunzipSync(ok!.response!.body).toString(), 'hello');
    assert.equal(ok!.response!.bodySize, 40);
    assert.equal(ok!.response!.bodyTruncated, false);
    assert.equal(ok!.request.body.toString(), 'a=x+y&b=');
    assert.equal(refused!.state, 'error');
    assert.equal(refused!.response, null);
    assert.deepEqual(refused!.error, { stage: 'upstream-request', code: 'net::ERR_CONNECTION_REFUSED', message: 'net::ERR_CONNECTION_REFUSED' });
    assert.equal(ok!.duration, 12);
    assert.deepEqual(ok!.timings, { blocked: -1, dns: -1, connect: -1, ssl: -1, send: 1, wait: 10, receive: 1 });
  });

  test('a body left out by the writer imports as truncated to 0 bytes', () => {
    const har = minimalHar();
    delete har.log.entries[0]!.response.content.text;
    const [flow] = harToFlows(har);
    assert.equal(flow!.response!.body.length, 0);
    assert.equal(flow!.response!.bodyTruncated, true);
  });

  test('malformed _tls is ignored field by field rather than trusted', () => {
    const har = minimalHar();
    (har.log.entries[0] as unknown as { _tls: unknown })._tls = { client: 'nope', server: { version: 12, events: [{ t: 1, from: 'mars', type: 'X' }, { t: 2, from: 'server', type: 'ServerHello' }], certificates: 'x' } };
    const [flow] = harToFlows(har);
    assert.equal(flow!.clientConnection, null);
    const tls = flow!.serverConnection!.tls!;
    assert.equal(tls.version, null);
    assert.deepEqual(tls.certificates, []);
    assert.deepEqual(tls.events, [{ t: 2, from: 'server', type: 'ServerHello', details: {} }]);
  });
});

describe('the JSON syntax locator', () => {
  test('finds nothing wrong in valid JSON, however deep', () => {
    for (const text of ['{}', '[1, -2.5e3, "a\\u00e9\\n", true, false, null, {"k": [[]]}]', ' "x" ', '['.repeat(50_000) + ']'.repeat(50_000)]) {
      assert.equal(findJsonSyntaxError(text), null, text.slice(0, 40));
    }
  });

  test('points at the first offending character', () => {
    const cases: [string, number, RegExp][] = [
      ['{"a":1,}', 7, /property name/],
      ['[1 2]', 3, /expected ','/],
      ['{"a" 1}', 5, /expected ':'/],
      ['"abc', 4, /unterminated string/],
      ['"a\\x"', 2, /bad escape/],
      ['[tru]', 4, /unexpected "\]"/],
      ['{} x', 3, /after the end/],
      ['[01]', 2, /expected ','/],
      ['["a\tb"]', 3, /control character/],
      ['', 0, /end of input/],
    ];
    for (const [text, offset, reason] of cases) {
      const found = findJsonSyntaxError(text);
      assert.ok(found, text);
      assert.equal(found.offset, offset, text);
      assert.match(found.reason, reason, text);
      assert.throws(() => JSON.parse(text));
    }
  });
});
