import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyBody, decodeText, parseForm, prettyJson, prettyXml } from '../../ui/src/body-format.js';
import {
  base64ToBytes,
  formatCount,
  formatDate,
  formatDuration,
  formatOffset,
  formatSize,
  hexDump,
  hexId,
  humanize,
  shortType,
  splitUrl,
  statusClass,
} from '../../ui/src/format.js';
import { phases } from '../../ui/src/phases.js';
import { describeValue, eventHint, offeredSuites, validity } from '../../ui/src/tls-words.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('formatSize', () => {
  it('prints bytes, then binary units with one decimal under 10', () => {
    assert.equal(formatSize(0), '0 B');
    assert.equal(formatSize(1023), '1023 B');
    assert.equal(formatSize(1024), '1.0 KB');
    assert.equal(formatSize(1536), '1.5 KB');
    assert.equal(formatSize(56 * 1024), '56 KB');
    assert.equal(formatSize(10 * 1024 * 1024), '10 MB');
    assert.equal(formatSize(3 * 1024 ** 4), '3.0 TB');
  });

  it('prints nothing for impossible sizes', () => {
    assert.equal(formatSize(-1), '');
    assert.equal(formatSize(Number.NaN), '');
  });
});

describe('formatDuration', () => {
  it('picks a unit that keeps two or three significant digits', () => {
    assert.equal(formatDuration(0.85), '850 µs');
    assert.equal(formatDuration(3.44), '3.4 ms');
    assert.equal(formatDuration(84.1), '84 ms');
    assert.equal(formatDuration(1250.4), '1.25 s');
    assert.equal(formatDuration(12_500), '12.5 s');
    assert.equal(formatDuration(125_000), '2 min 5 s');
  });

  it('shows a pending duration as an ellipsis', () => {
    assert.equal(formatDuration(null), '…');
  });

  it('keeps handshake offsets precise enough to tell a flight apart', () => {
    assert.equal(formatOffset(0.412), '0.412 ms');
    assert.equal(formatOffset(12.061), '12.06 ms');
    assert.equal(formatOffset(250.33), '250.3 ms');
    assert.equal(formatOffset(1500), '1.50 s');
  });
});

describe('hexDump', () => {
  it('lays bytes out like hexdump -C', () => {
    const dump = hexDump(bytes('Hello, hex dump!\x00\x01\xff'.replace('\xff', '~')));
    assert.equal(
      dump,
      '00000000  48 65 6c 6c 6f 2c 20 68  65 78 20 64 75 6d 70 21  |Hello, hex dump!|\n' +
        '00000010  00 01 7e                                          |..~|',
    );
  });

  it('dumps a window of a large body, keeping absolute offsets', () => {
    const big = new Uint8Array(64).map((_, i) => i);
    const lines = hexDump(big, 32, 16).split('\n');
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^00000020 {2}20 21 22/);
  });

  it('dumps nothing for no bytes', () => {
    assert.equal(hexDump(new Uint8Array(0)), '');
  });
});

describe('small formatters', () => {
  it('shortens content types to what a list column needs', () => {
    assert.equal(shortType('application/json; charset=utf-8'), 'json');
    assert.equal(shortType('application/vnd.api+json'), 'json');
    assert.equal(shortType('image/svg+xml'), 'svg');
    assert.equal(shortType('application/javascript'), 'js');
    assert.equal(shortType('application/x-www-form-urlencoded'), 'form');
    assert.equal(shortType('application/octet-stream'), 'binary');
    assert.equal(shortType('application/x-protobuf'), 'protobuf');
    assert.equal(shortType(null), '');
  });

  it('classes statuses for colour', () => {
    assert.equal(statusClass(200, null, 'complete'), 'ok');
    assert.equal(statusClass(101, null, 'complete'), 'info');
    assert.equal(statusClass(304, null, 'complete'), 'redirect');
    assert.equal(statusClass(404, null, 'complete'), 'client-error');
    assert.equal(statusClass(503, null, 'complete'), 'server-error');
    assert.equal(statusClass(null, null, 'pending'), 'pending');
    assert.equal(statusClass(null, 'upstream-tls: alert', 'error'), 'failed');
  });

  it('splits urls into origin and path', () => {
    assert.deepEqual(splitUrl('https://a.example:8443/x?y=1'), { origin: 'https://a.example:8443', path: '/x?y=1' });
    assert.deepEqual(splitUrl('https://a.example'), { origin: 'https://a.example', path: '/' });
    assert.deepEqual(splitUrl('a.example:443'), { origin: 'a.example:443', path: '' });
  });

  it('formats ids, dates, counts and labels', () => {
    assert.equal(hexId(0xc02f), '0xC02F');
    assert.equal(formatDate('2026-01-01T00:00:00.000Z'), '2026-01-01 00:00 UTC');
    assert.equal(formatDate('garbage'), 'garbage');
    assert.equal(formatCount(1234567), '1,234,567');
    assert.equal(humanize('encryptedPreMasterLength'), 'Encrypted pre master length');
    assert.equal(humanize('ja3Hash'), 'Ja3 hash');
  });

  it('decodes base64 WebSocket frames and refuses what is not base64', () => {
    assert.deepEqual(Array.from(base64ToBytes('3q2+7wABAgM=')!), [0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]);
    assert.equal(base64ToBytes('not base64!'), null);
  });
});

describe('body formatting', () => {
  it('decodes UTF-8 text and calls NUL-bearing or invalid bytes binary', () => {
    assert.equal(decodeText(bytes('héllo')), 'héllo');
    assert.equal(decodeText(new Uint8Array([0x68, 0x00, 0x69])), null);
    assert.equal(decodeText(new Uint8Array([0xff, 0xfe, 0x41])), null);
  });

  it('keeps text whose last character was cut by the capture limit', () => {
    const cut = bytes('price: 5€').subarray(0, -1);
    assert.equal(decodeText(cut), 'price: 5');
  });

  it('classifies by declared type first, then by content', () => {
    assert.equal(classifyBody('application/json', bytes('{"a":1}'), '{"a":1}'), 'json');
    assert.equal(classifyBody('text/plain', bytes('{"a":1}'), '{"a":1}'), 'json');
    assert.equal(classifyBody('text/html', bytes('<p>'), '<p>'), 'html');
    assert.equal(classifyBody('application/rss+xml', bytes('<rss/>'), '<rss/>'), 'xml');
    assert.equal(classifyBody('application/x-www-form-urlencoded', bytes('a=1'), 'a=1'), 'form');
    assert.equal(classifyBody('image/png', new Uint8Array([0x89, 0x50]), null), 'image');
    assert.equal(classifyBody('application/octet-stream', new Uint8Array([0, 1]), null), 'binary');
    assert.equal(classifyBody(null, new Uint8Array(0), ''), 'empty');
  });

  it('never treats SVG as an image to render: it can carry script', () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>';
    assert.equal(classifyBody('image/svg+xml', bytes(svg), svg), 'xml');
  });

  it('pretty-prints JSON and gives up on what is not JSON', () => {
    assert.equal(prettyJson('{"a":[1,2]}'), '{\n  "a": [\n    1,\n    2\n  ]\n}');
    assert.equal(prettyJson('{"a":'), null);
  });

  it('indents XML one element per line, short elements inline', () => {
    assert.equal(
      prettyXml('<?xml version="1.0"?><a><b>text</b><c/><d><e></e></d><!-- note --></a>'),
      ['<?xml version="1.0"?>', '<a>', '  <b>text</b>', '  <c/>', '  <d>', '    <e></e>', '  </d>', '  <!-- note -->', '</a>'].join('\n'),
    );
  });

  it('keeps malformed XML in order rather than failing', () => {
    assert.equal(prettyXml('</x></y>text<z'), '</x>\n</y>\ntext\n<z');
  });

  it('parses form bodies with + as space and bad escapes kept', () => {
    assert.deepEqual(parseForm('a=1&b=x+y%21&flag&bad=%zz'), [
      ['a', '1'],
      ['b', 'x y!'],
      ['flag', ''],
      ['bad', '%zz'],
    ]);
  });
});

describe('timing phases', () => {
  it('splits HAR connect into TCP and TLS and lays the phases end to end', () => {
    const p = phases({ blocked: 1, dns: 2, connect: 30, ssl: 20, send: 1, wait: 40, receive: 6 });
    assert.deepEqual(
      p.map((x) => [x.key, x.start, x.ms]),
      [
        ['blocked', 0, 1],
        ['dns', 1, 2],
        ['tcp', 3, 10],
        ['ssl', 13, 20],
        ['send', 33, 1],
        ['wait', 34, 40],
        ['receive', 74, 6],
      ],
    );
  });

  it('leaves out phases that did not happen', () => {
    const p = phases({ blocked: -1, dns: -1, connect: -1, ssl: -1, send: 0.2, wait: 10, receive: 1 });
    assert.deepEqual(
      p.map((x) => x.key),
      ['send', 'wait', 'receive'],
    );
  });
});

describe('TLS words', () => {
  it('summarises messages for the ladder', () => {
    assert.equal(eventHint({ t: 0, from: 'client', type: 'ClientHello', details: { sni: 'a.example', cipherSuites: [1, 2, 3], alpn: ['h2', 'http/1.1'] } }), 'SNI a.example · 3 suites · h2,http/1.1');
    const cipher = { id: 0xc02f, name: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', keyExchange: 'ECDHE', authentication: 'RSA', encryption: 'AES-128-GCM', mac: 'AEAD' };
    assert.equal(eventHint({ t: 0, from: 'server', type: 'ServerHello', details: { version: 'TLSv1.2', cipher } }), 'ECDHE_RSA_WITH_AES_128_GCM_SHA256');
    assert.equal(eventHint({ t: 0, from: 'server', type: 'Alert', details: { level: 'fatal', description: 'handshake_failure' } }), 'fatal handshake_failure');
    assert.equal(eventHint({ t: 0, from: 'server', type: 'Certificate', details: { count: 2 } }), '2 certificates');
    assert.equal(eventHint({ t: 0, from: 'server', type: 'EncryptedHandshake', details: { encrypted: true, length: 23 } }), 'encrypted · 23 B');
  });

  it('lists offered suites with names where the parser gave them', () => {
    assert.deepEqual(offeredSuites({ cipherSuites: [0x0a0a, 0xc02f], cipherSuiteNames: ['GREASE', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'] }), [
      { id: 0x0a0a, name: 'GREASE' },
      { id: 0xc02f, name: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256' },
    ]);
    assert.deepEqual(offeredSuites({ cipherSuites: [0x2f] }), [{ id: 0x2f, name: '0x002f' }]);
  });

  it('describes detail values in words', () => {
    assert.equal(describeValue(true), 'yes');
    assert.equal(describeValue([]), 'none');
    assert.equal(describeValue([{ type: 0, name: 'server_name', length: 14 }, 'x']), 'server_name, x');
    assert.equal(describeValue({ present: true, length: 0 }), 'yes (0 bytes)');
    assert.equal(describeValue({ a: 1 }), '{"a":1}');
    assert.equal(describeValue(null), '—');
  });

  it('judges certificate validity', () => {
    const now = Date.parse('2026-06-01T00:00:00Z');
    assert.equal(validity('2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z', now), 'valid');
    assert.equal(validity('2025-01-01T00:00:00Z', '2026-01-01T00:00:00Z', now), 'expired');
    assert.equal(validity('2026-07-01T00:00:00Z', '2027-01-01T00:00:00Z', now), 'not yet valid');
    assert.equal(validity('', '', now), 'unknown');
  });
});
