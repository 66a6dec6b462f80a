import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { CLIENT_PREFACE, H2FrameReader, type H2FrameEvent } from '../../../src/proxy/h2/frames.js';
import { seeded } from '../../helpers/random.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** A frame: 24-bit length, type, flags, stream id, payload (RFC 9113 §4.1). */
function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}
const SETTINGS_EMPTY = frame(4, 0, 0);

function readAll(chunks: Buffer[], expectPreface: boolean): H2FrameEvent[] {
  const r = new H2FrameReader({ expectPreface });
  return chunks.flatMap((c) => r.push(c));
}

describe('HTTP/2 frame reader', () => {
  test('names the preface, SETTINGS values, and error codes', () => {
    const settings = frame(4, 0, 0, hex('0003 00000064 0004 0000ffff 0002 00000000 00aa 00000001'));
    const rst = frame(3, 0, 1, hex('00000008'));
    const goaway = frame(7, 0, 0, Buffer.concat([hex('00000005 0000000b'), Buffer.from('calm down')]));
    const events = readAll([CLIENT_PREFACE, settings, frame(4, 1, 0), rst, goaway], true);
    assert.deepEqual(events, [
      { type: 'preface' },
      {
        type: 'SETTINGS',
        ack: false,
        settings: [
          { id: 3, name: 'MAX_CONCURRENT_STREAMS', value: 100 },
          { id: 4, name: 'INITIAL_WINDOW_SIZE', value: 65535 },
          { id: 2, name: 'ENABLE_PUSH', value: 0 },
          { id: 0xaa, name: 'UNKNOWN_0xaa', value: 1 },
        ],
      },
      { type: 'SETTINGS', ack: true, settings: [] },
      { type: 'RST_STREAM', stream: 1, code: 8, error: 'CANCEL' },
      { type: 'GOAWAY', lastStream: 5, code: 11, error: 'ENHANCE_YOUR_CALM', debug: 'calm down' },
    ]);
  });

  test('reads frames split at every byte boundary the same as whole', () => {
    const bytes = Buffer.concat([
      CLIENT_PREFACE,
      SETTINGS_EMPTY,
      frame(1, 0x4, 1, Buffer.alloc(20, 0x82)),
      frame(0, 0, 1, Buffer.alloc(300, 7)),
      frame(0, 1, 1, Buffer.alloc(0)),
      frame(8, 0, 0, hex('00010000')),
      frame(6, 1, 0, hex('0102030405060708')),
    ]);
    const whole = readAll([bytes], true);
    assert.equal(whole.length, 7);
    assert.deepEqual(whole[3], { type: 'DATA', stream: 1, length: 300, endStream: false });
    assert.deepEqual(whole[5], { type: 'WINDOW_UPDATE', stream: 0, increment: 65536 });
    assert.deepEqual(whole[6], { type: 'PING', ack: true, data: '0102030405060708' });
    const single = readAll([...bytes].map((b) => Buffer.from([b])), true);
    assert.deepEqual(single, whole);
  });

  test('a DATA payload is skipped, not buffered', () => {
    const r = new H2FrameReader({ expectPreface: false });
    r.push(SETTINGS_EMPTY);
    const header = frame(0, 1, 3, Buffer.alloc(0));
    header.writeUIntBE(1 << 20, 0, 3);
    assert.deepEqual(r.push(header), []);
    for (let i = 0; i < 16; i++) assert.deepEqual(r.push(Buffer.alloc(1 << 16)), i === 15 ? [{ type: 'DATA', stream: 3, length: 1 << 20, endStream: true }] : []);
  });

  test('garbage gives one error with the RFC 9113 code, then silence', () => {
    assert.deepEqual(readAll([Buffer.from('GET / HTTP/1.1\r\n\r\n')], true), [{ type: 'error', code: 'PROTOCOL_ERROR', reason: 'the connection did not start with the HTTP/2 client preface' }]);
    const afterPreface = readAll([CLIENT_PREFACE, frame(6, 0, 0, Buffer.alloc(8)), SETTINGS_EMPTY], true);
    assert.equal(afterPreface.length, 2);
    assert.deepEqual(afterPreface[1], { type: 'error', code: 'PROTOCOL_ERROR', reason: 'the first frame is PING, not SETTINGS' });
    assert.deepEqual(readAll([SETTINGS_EMPTY, frame(8, 0, 1, hex('0000'))], false).at(-1), { type: 'error', code: 'FRAME_SIZE_ERROR', reason: 'WINDOW_UPDATE has length 2' });
    assert.deepEqual(readAll([SETTINGS_EMPTY, frame(0, 0, 0, hex('00'))], false).at(-1), { type: 'error', code: 'PROTOCOL_ERROR', reason: 'DATA on stream 0' });
  });

  test('a seeded fuzz of mutated and random input never throws', () => {
    const rand = seeded(0x5eed);
    const valid = Buffer.concat([CLIENT_PREFACE, SETTINGS_EMPTY, frame(1, 5, 1, Buffer.alloc(9)), frame(7, 0, 0, hex('00000001 00000000')), frame(3, 0, 1, hex('00000002'))]);
    for (let round = 0; round < 3000; round++) {
      const bytes = Buffer.from(valid);
      const flips = 1 + Math.floor(rand() * 6);
      for (let i = 0; i < flips; i++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      const tail = Buffer.alloc(Math.floor(rand() * 64));
      for (let i = 0; i < tail.length; i++) tail[i] = Math.floor(rand() * 256);
      const input = Buffer.concat([bytes, tail]);
      const r = new H2FrameReader({ expectPreface: rand() < 0.5 });
      let at = 0;
      const events: H2FrameEvent[] = [];
      while (at < input.length) {
        const n = 1 + Math.floor(rand() * 40);
        events.push(...r.push(input.subarray(at, at + n)));
        at += n;
      }
      const errors = events.filter((e) => e.type === 'error');
      assert.ok(errors.length <= 1, 'at most one error');
      if (errors.length === 1) assert.equal(events.at(-1)?.type, 'error', 'nothing after the error');
    }
  });

  test('reads the bytes of a real Node HTTP/2 exchange, both directions', async () => {
    const server = http2.createServer();
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      stream.end('x'.repeat(1000));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const c2s: Buffer[] = [];
    const s2c: Buffer[] = [];
    const relay = net.createServer((client) => {
      const up = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
      client.on('data', (d: Buffer) => {
        c2s.push(d);
        up.write(d);
      });
      up.on('data', (d: Buffer) => {
        s2c.push(d);
        client.write(d);
      });
      client.on('close', () => up.destroy());
      up.on('close', () => client.destroy());
    });
    relay.listen(0, '127.0.0.1');
    await once(relay, 'listening');
    const session = http2.connect(`http://127.0.0.1:${(relay.address() as AddressInfo).port}`);
    try {
      const req = session.request({ ':path': '/', ':method': 'POST' });
      req.end('hello');
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      await once(req, 'end');
      assert.equal(body.length, 1000);
    } finally {
      session.close();
      await once(session, 'close');
      relay.close();
      server.close();
    }
    const up = readAll(c2s, true);
    const down = readAll(s2c, false);
    assert.equal(up[0]?.type, 'preface');
    assert.equal(up[1]?.type, 'SETTINGS');
    assert.ok(up.some((e) => e.type === 'SETTINGS' && e.ack), 'the client acknowledges the server SETTINGS');
    assert.ok(up.some((e) => e.type === 'HEADERS' && e.stream === 1));
    assert.equal(up.filter((e) => e.type === 'DATA' && e.stream === 1).reduce((n, e) => n + (e.type === 'DATA' ? e.length : 0), 0), 5);
    assert.equal(down[0]?.type, 'SETTINGS');
    assert.ok(down.some((e) => e.type === 'HEADERS' && e.stream === 1));
    const last = down.filter((e) => e.type === 'DATA' && e.stream === 1).at(-1);
    assert.ok(last?.type === 'DATA' && last.endStream);
    assert.ok(![...up, ...down].some((e) => e.type === 'error'));
  });
});
