import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { FrameParser, type FrameEvent } from '../../src/proxy/ws-frames.js';
import { MessageRecorder, type CloseFrame, type DeflateParams } from '../../src/proxy/ws-recorder.js';
import type { WebSocketMessage } from '../../src/capture/flow.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 6455 §5.7 examples.
const UNMASKED_HELLO = hex('81 05 48656c6c6f');
const MASKED_HELLO = hex('81 85 37fa213d 7f9f4d5158');
const FRAGMENTED_HELLO = [hex('01 03 48656c'), hex('80 02 6c6f')];
const PING_HELLO = hex('89 05 48656c6c6f');
const MASKED_PONG_HELLO = hex('8a 85 37fa213d 7f9f4d5158');
// RFC 7692 §7.2.3.1 and §7.2.3.2: "Hello" compressed, then again with the context taken over.
const DEFLATED_HELLO = hex('c1 07 f248cdc9c90700');
const DEFLATED_HELLO_AGAIN = hex('c1 05 f200110000');

/** Events with payload pieces unmasked and joined per frame, for readable assertions. */
function frames(events: FrameEvent[]): Array<{ opcode: number; fin: boolean; payload: string } | string> {
  const out: Array<{ opcode: number; fin: boolean; payload: string } | string> = [];
  let current: { opcode: number; fin: boolean; payload: string; mask: Buffer | null } | null = null;
  for (const e of events) {
    if (e.type === 'header') current = { opcode: e.header.opcode, fin: e.header.fin, payload: '', mask: e.header.mask };
    else if (e.type === 'payload' && current) {
      const bytes = Buffer.from(e.raw);
      if (current.mask) for (let i = 0; i < bytes.length; i++) bytes[i] = bytes[i]! ^ current.mask[(e.offset + i) & 3]!;
      current.payload += bytes.toString('latin1');
    } else if (e.type === 'end' && current) {
      out.push({ opcode: current.opcode, fin: current.fin, payload: current.payload });
      current = null;
    } else if (e.type === 'error') out.push(`error: ${e.reason}`);
  }
  return out;
}

function record(chunks: Buffer[], options: { maxData?: number; deflate?: DeflateParams | null; budget?: number } = {}): Promise<{ messages: WebSocketMessage[]; closes: CloseFrame[]; problems: string[] }> {
  const messages: WebSocketMessage[] = [];
  const closes: CloseFrame[] = [];
  const problems: string[] = [];
  const recorder = new MessageRecorder({
    type: 'send',
    maxData: options.maxData ?? 1024,
    budget: { bytes: options.budget ?? Number.MAX_SAFE_INTEGER },
    deflate: options.deflate ?? null,
    onMessage: (m, close) => {
      messages.push(m);
      if (close) closes.push(close);
    },
    onProblem: (reason) => problems.push(reason),
  });
  for (const chunk of chunks) recorder.push(chunk);
  return recorder.drain().then(() => {
    recorder.destroy();
    return { messages, closes, problems };
  });
}

const strip = (m: WebSocketMessage): Omit<WebSocketMessage, 'time' | 'type'> => ({ opcode: m.opcode, size: m.size, data: m.data, truncated: m.truncated });

describe('the WebSocket frame parser', () => {
  test('parses the RFC 6455 example frames, masked and unmasked, whole or fragmented', () => {
    const p = new FrameParser();
    const all = [UNMASKED_HELLO, MASKED_HELLO, ...FRAGMENTED_HELLO, PING_HELLO, MASKED_PONG_HELLO];
    assert.deepEqual(frames(all.flatMap((b) => p.push(b))), [
      { opcode: 1, fin: true, payload: 'Hello' },
      { opcode: 1, fin: true, payload: 'Hello' },
      { opcode: 1, fin: false, payload: 'Hel' },
      { opcode: 0, fin: true, payload: 'lo' },
      { opcode: 9, fin: true, payload: 'Hello' },
      { opcode: 10, fin: true, payload: 'Hello' },
    ]);
  });

  test('gives the same frames when fed one byte at a time', () => {
    const whole = Buffer.concat([MASKED_HELLO, ...FRAGMENTED_HELLO, MASKED_PONG_HELLO]);
    const p = new FrameParser();
    const events: FrameEvent[] = [];
    for (const byte of whole) events.push(...p.push(Buffer.from([byte])));
    assert.deepEqual(frames(events), frames(new FrameParser().push(whole)));
  });

  test('reads 16-bit and 64-bit lengths and streams the payload without waiting for all of it', () => {
    const p = new FrameParser();
    const header16 = p.push(hex('82 7e 0100'));
    assert.deepEqual(header16.map((e) => e.type), ['header']);
    assert.equal(header16[0]?.type === 'header' && header16[0].header.length, 256);
    const firstHalf = p.push(Buffer.alloc(128, 1));
    assert.deepEqual(firstHalf.map((e) => e.type), ['payload']);
    assert.deepEqual(p.push(Buffer.alloc(128, 2)).map((e) => e.type), ['payload', 'end']);
    const header64 = p.push(hex('82 7f 0000000000010000'));
    assert.equal(header64[0]?.type === 'header' && header64[0].header.length, 65536);
  });

  test('reports a reserved opcode or an oversized control frame once, then ignores the rest', () => {
    const p = new FrameParser();
    assert.deepEqual(frames(p.push(hex('83 00'))), ['error: reserved opcode 0x3']);
    assert.deepEqual(p.push(UNMASKED_HELLO), []);
    const q = new FrameParser();
    assert.match(String(frames(q.push(hex('89 7e 0080')))[0]), /invalid control frame/);
  });
});

describe('the WebSocket message recorder', () => {
  test('assembles fragmented messages around an interleaved ping', async () => {
    const { messages } = await record([FRAGMENTED_HELLO[0]!, PING_HELLO, FRAGMENTED_HELLO[1]!]);
    assert.deepEqual(messages.map(strip), [
      { opcode: 9, size: 5, data: 'Hello', truncated: false },
      { opcode: 1, size: 5, data: 'Hello', truncated: false },
    ]);
  });

  test('keeps only the capped prefix, cut at a whole UTF-8 character, and counts the full size', async () => {
    // "é" is two bytes: a cap of 3 would split the second one.
    const payload = Buffer.from('éé€', 'utf8');
    const frame = Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
    const { messages } = await record([frame], { maxData: 3 });
    assert.deepEqual(messages.map(strip), [{ opcode: 1, size: 7, data: 'é', truncated: true }]);
  });

  test('records binary payloads as base64 and stops copying when the flow budget is spent', async () => {
    const frame = hex('82 04 000102ff');
    const { messages } = await record([frame, frame], { budget: 4 });
    assert.deepEqual(messages.map(strip), [
      { opcode: 2, size: 4, data: 'AAEC/w==', truncated: false },
      { opcode: 2, size: 4, data: '', truncated: true },
    ]);
  });

  test('records close frames as "code reason" and reports the code', async () => {
    const reason = Buffer.from('bye');
    const { messages, closes } = await record([Buffer.concat([Buffer.from([0x88, 2 + reason.length, 0x0f, 0xa0]), reason]), hex('88 00')]);
    assert.deepEqual(messages.map(strip), [
      { opcode: 8, size: 5, data: '4000 bye', truncated: false },
      { opcode: 8, size: 0, data: '', truncated: false },
    ]);
    assert.deepEqual(closes, [{ code: 4000, reason: 'bye' }, { code: null, reason: '' }]);
  });

  test('inflates permessage-deflate messages, keeping the context between messages (RFC 7692 §7.2.3)', async () => {
    const { messages, problems } = await record([DEFLATED_HELLO, DEFLATED_HELLO_AGAIN, UNMASKED_HELLO], { deflate: { noContextTakeover: false } });
    assert.deepEqual(problems, []);
    assert.deepEqual(messages.map(strip), [
      { opcode: 1, size: 5, data: 'Hello', truncated: false },
      { opcode: 1, size: 5, data: 'Hello', truncated: false },
      { opcode: 1, size: 5, data: 'Hello', truncated: false },
    ]);
  });

  test('says so, and goes on, when a compressed message cannot be inflated', async () => {
    const { messages, problems } = await record([hex('c1 03 ffffff'), UNMASKED_HELLO], { deflate: { noContextTakeover: true } });
    assert.equal(messages.length, 2);
    assert.equal(messages[0]!.data, '');
    assert.deepEqual(strip(messages[1]!), { opcode: 1, size: 5, data: 'Hello', truncated: false });
    assert.match(problems[0] ?? '', /could not be inflated/);
  });
});
