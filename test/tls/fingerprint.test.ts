import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ja3, ja4, ja4Raw } from '../../src/tls/fingerprint.js';
import { parseClientHello, type ClientHello } from '../../src/tls/records.js';
import { FIXTURE_NAMES, clientHelloBody, ext, hexList, loadFixture, replay, type Extension } from '../fixtures/tls/helpers.js';
import { requireTools } from '../helpers/tools.js';

/** Extensions whose bodies the fingerprints read get real bodies; the rest are empty. */
function helloFrom(spec: { ciphers: number[]; extensions: number[]; sigalgs: number[]; groups?: number[]; alpn?: string[]; versions?: number[]; sni?: boolean }): ClientHello {
  const extensions: Extension[] = spec.extensions.map((type): Extension => {
    switch (type) {
      case 0x0000:
        return ext.sni('example.com');
      case 0x0010:
        return ext.alpn(...(spec.alpn ?? ['h2', 'http/1.1']));
      case 0x000a:
        return ext.groups(...(spec.groups ?? [29, 23, 24]));
      case 0x000b:
        return ext.pointFormats(0);
      case 0x000d:
        return ext.signatureAlgorithms(...spec.sigalgs);
      case 0x002b:
        return ext.supportedVersions(...(spec.versions ?? [0x0304, 0x0303]));
      default:
        return ext.empty(type);
    }
  });
  const hello = parseClientHello(clientHelloBody({ ciphers: spec.ciphers, extensions }));
  assert.ok(hello);
  return hello;
}

describe('JA4', () => {
  // The worked example of FoxIO's technical_details/JA4.md.
  const specExample = {
    ciphers: hexList('1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035'),
    extensions: hexList('001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015'),
    sigalgs: hexList('0403,0804,0401,0503,0805,0501,0806,0601'),
  };

  test("matches the specification's worked example, raw and hashed", () => {
    const hello = helloFrom(specExample);
    assert.equal(ja4(hello), 't13d1516h2_8daaf6152771_e5627efa2ab1');
    assert.equal(
      ja4Raw(hello),
      't13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601',
    );
  });

  test('ignores GREASE in suites, extensions, signature algorithms and versions', () => {
    const hello = helloFrom({
      ciphers: [0x0a0a, ...specExample.ciphers],
      extensions: [0x1a1a, ...specExample.extensions, 0xfafa],
      sigalgs: [0x2a2a, ...specExample.sigalgs],
      versions: [0x3a3a, 0x0304, 0x0303],
    });
    assert.equal(ja4(hello), 't13d1516h2_8daaf6152771_e5627efa2ab1');
  });

  test("matches a published Chrome 143 fingerprint (JA4 and JA3 from one browserleaks report)", () => {
    const hello = helloFrom({
      ciphers: [0x8a8a, ...hexList('1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035')],
      extensions: [0x9a9a, ...hexList('002d,0033,0010,fe0d,0017,44cd,0000,000b,000a,002b,ff01,0023,0012,0005,000d,001b'), 0xaaaa],
      sigalgs: hexList('0403,0804,0401,0503,0805,0501,0806,0601'),
      groups: [0x5a5a, 4588, 29, 23, 24],
    });
    assert.equal(ja4(hello), 't13d1516h2_8daaf6152771_d8a2da3f94cd');
    const fp = ja3(hello);
    assert.equal(fp.string, '771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0');
    assert.equal(fp.hash, '98487aa16281980e7d1120d399efb6a4');
  });

  test('says "i" without SNI, uses the legacy version without supported_versions, and "00" without ALPN', () => {
    const hello = helloFrom({ ciphers: [0x0035, 0x002f], extensions: [0x000d, 0x0017], sigalgs: [0x0401] });
    assert.match(ja4(hello), /^t12i020200_/);
  });

  test('hashes an empty suite or extension list to zeros, and drops the underscore without signature algorithms', () => {
    const none = helloFrom({ ciphers: [], extensions: [], sigalgs: [] });
    assert.equal(ja4(none), 't12i000000_000000000000_000000000000');
    // Spec: "0005,000a,...,ff01" alone hashes to 6d807ffa2a79.
    const noSigs = helloFrom({ ciphers: [0x1301], extensions: hexList('0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01'), sigalgs: [] });
    assert.equal(ja4(noSigs).split('_')[2], '6d807ffa2a79');
    const onlySniAlpn = helloFrom({ ciphers: [0x1301], extensions: [0x0000, 0x0010, 0x000d], sigalgs: [0x0403] });
    assert.equal(ja4Raw(onlySniAlpn).split('_').slice(2).join('_'), '000d_0403');
  });

  test('takes the first and last ALPN characters, or hex digits when either end is not alphanumeric', () => {
    const alpn = (value: string): string => ja4(helloFrom({ ciphers: [0x1301], extensions: [0x0010], sigalgs: [], alpn: [value] })).slice(8, 10);
    assert.equal(alpn('h2'), 'h2');
    assert.equal(alpn('http/1.1'), 'h1');
    assert.equal(alpn('h'), 'hh');
    assert.equal(alpn('\xab'), 'ab');
    assert.equal(alpn('\xab\xcd'), 'ad');
    assert.equal(alpn('0\xab'), '3b');
    assert.equal(alpn('01\xab\xcd'), '3d');
    assert.equal(alpn('0\xab\xcd1'), '01');
    assert.equal(alpn(''), '00');
  });

  test('caps the suite and extension counts at 99', () => {
    const many = Array.from({ length: 120 }, (_, i) => 0x0100 + i);
    assert.match(ja4(helloFrom({ ciphers: many, extensions: many.map((x) => x + 0x1000), sigalgs: [] })), /^t12i9999/);
  });

  test('marks QUIC and DTLS hellos with their transport letter', () => {
    const hello = helloFrom(specExample);
    assert.match(ja4(hello, 'quic'), /^q13/);
    assert.match(ja4(hello, 'dtls'), /^d13/);
  });
});

describe('JA3', () => {
  test('keeps extension order, removes GREASE, and is empty-field safe', () => {
    const hello = helloFrom({ ciphers: [0x0a0a, 0x0035], extensions: [0x2a2a, 0x000a, 0x0000], sigalgs: [], groups: [0x3a3a, 29] });
    assert.equal(ja3(hello).string, '771,53,10-0,29,');
  });

  test('every ClientHello event carries JA3 and JA4 ready for the tap', () => {
    for (const name of FIXTURE_NAMES) {
      for (const m of replay(loadFixture(name)).filter((x) => x.type === 'ClientHello')) {
        assert.match(m.details['ja3String'] as string, /^\d+,[\d-]*,[\d-]*,[\d-]*,[\d-]*$/, name);
        assert.match(m.details['ja3'] as string, /^[0-9a-f]{32}$/, name);
        assert.match(m.details['ja4'] as string, /^t1[23][di]\d{4}[0-9a-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$/, name);
      }
    }
  });
});

/** Ethernet + IPv4 + TCP framing of one chunk, enough for tshark to follow the stream. */
function frame(payload: Buffer, seq: number, clientPort: number, fromClient: boolean): Buffer {
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(40 + payload.length, 2);
  ip[8] = 64;
  ip[9] = 6;
  Buffer.from(fromClient ? [127, 0, 0, 1] : [127, 0, 0, 2]).copy(ip, 12);
  Buffer.from(fromClient ? [127, 0, 0, 2] : [127, 0, 0, 1]).copy(ip, 16);
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(fromClient ? clientPort : 443, 0);
  tcp.writeUInt16BE(fromClient ? 443 : clientPort, 2);
  tcp.writeUInt32BE(seq >>> 0, 4);
  tcp[12] = 0x50;
  tcp[13] = 0x18;
  tcp.writeUInt16BE(0xffff, 14);
  return Buffer.concat([eth, ip, tcp, payload]);
}

/** Largest TCP payload per synthetic frame (IPv4 total length is 16 bits). */
const MAX_SEGMENT = 60_000;

function pcapOf(names: readonly string[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(0xffff, 16);
  header.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  const parts: Buffer[] = [header];
  let t = 0;
  names.forEach((name, index) => {
    const seq = { c2s: 1, s2c: 1 };
    for (const c of loadFixture(name as (typeof FIXTURE_NAMES)[number])) {
      for (let o = 0; o < c.bytes.length; o += MAX_SEGMENT) {
        const seg = c.bytes.subarray(o, o + MAX_SEGMENT);
        const f = frame(seg, seq[c.dir], 50_000 + index, c.dir === 'c2s');
        seq[c.dir] += seg.length;
        const rec = Buffer.alloc(16);
        rec.writeUInt32LE(1_700_000_000, 0);
        rec.writeUInt32LE(t++, 4);
        rec.writeUInt32LE(f.length, 8);
        rec.writeUInt32LE(f.length, 12);
        parts.push(rec, f);
      }
    }
  });
  return Buffer.concat(parts);
}

describe('JA3 against tshark', () => {
  test('agrees with tshark on every recorded ClientHello', { skip: requireTools('tshark') }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'mitmscope-ja3-'));
    try {
      const pcap = join(dir, 'hellos.pcap');
      writeFileSync(pcap, pcapOf(FIXTURE_NAMES));
      const r = spawnSync('tshark', ['-r', pcap, '-Y', 'tls.handshake.type == 1', '-T', 'fields', '-e', 'tls.handshake.ja3_full', '-e', 'tls.handshake.ja3'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const theirs = r.stdout.trim().split('\n');
      const ours = FIXTURE_NAMES.flatMap((name) =>
        replay(loadFixture(name))
          .filter((m) => m.type === 'ClientHello')
          .map((m) => `${String(m.details['ja3String'])}\t${String(m.details['ja3'])}`),
      );
      assert.equal(ours.length, FIXTURE_NAMES.length + 1, 'one hello per fixture, two with a HelloRetryRequest');
      assert.deepEqual(ours, theirs);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

