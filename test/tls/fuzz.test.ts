import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TlsConnectionParser, MAX_HANDSHAKE_MESSAGE, MAX_RECORD_LENGTH, peekClientHello, type TlsSender } from '../../src/tls/records.js';
import { HANDSHAKE_TYPES } from '../../src/tls/suites.js';
import { FIXTURE_NAMES, loadFixture, prng, stream, type Chunk } from '../fixtures/tls/helpers.js';

/** ≥100k cases in well under a minute on two cores; case i always uses seed SEED + i. */
const CASES = 100_000;
const SEED = 0x5eed_0003;
/** Per side: record header, handshake header, one capped handshake message, half an alert. */
const BUFFER_BOUND = 2 * (5 + 4 + MAX_HANDSHAKE_MESSAGE + 1);
const RECORD_HEADER = 5;
/** Handshake message names, plus the record-level events. */
const KNOWN_TYPES = new Set([
  ...HANDSHAKE_TYPES.values(),
  'ChangeCipherSpec', 'Alert', 'EncryptedHandshake', 'ApplicationData', 'Error', 'Heartbeat', 'UnknownHandshake',
]);

type Rand = () => number;
const int = (rand: Rand, n: number): number => Math.floor(rand() * n);
const pick = <T>(rand: Rand, items: readonly T[]): T => items[int(rand, items.length)]!;

interface Source {
  chunks: Chunk[];
  streams: Record<TlsSender, Buffer>;
}

const SOURCES: Source[] = FIXTURE_NAMES.map((name) => {
  const chunks = loadFixture(name);
  return { chunks, streams: { c2s: stream(chunks, 'c2s'), s2c: stream(chunks, 's2c') } };
});

/** Offsets of the record headers of an intact stream. */
function recordOffsets(bytes: Buffer): number[] {
  const out: number[] = [];
  for (let o = 0; o + RECORD_HEADER <= bytes.length; o += RECORD_HEADER + bytes.readUInt16BE(o + 3)) out.push(o);
  return out;
}

function interestingLength(rand: Rand, old: number): number {
  return pick(rand, [0, 1, 3, 4, old - 1, old + 1, old * 2, MAX_RECORD_LENGTH, MAX_RECORD_LENGTH + 1, 0xffff, int(rand, 0x10000)]) & 0xffff;
}

function mutate(rand: Rand, input: Buffer): Buffer {
  let s = Buffer.from(input);
  if (s.length === 0) return s;
  const offsets = recordOffsets(input).filter((o) => o < s.length);
  const kind = int(rand, 9);
  const pos = int(rand, s.length);
  switch (kind) {
    case 0: // bit flip
      s[pos]! ^= 1 << int(rand, 8);
      break;
    case 1: // random byte
      s[pos] = int(rand, 256);
      break;
    case 2: // truncation
      s = s.subarray(0, pos);
      break;
    case 3: { // record length field
      const o = pick(rand, offsets);
      if (o + RECORD_HEADER <= s.length) s.writeUInt16BE(interestingLength(rand, s.readUInt16BE(o + 3)), o + 3);
      break;
    }
    case 4: { // handshake length field (first message of a record)
      const o = pick(rand, offsets);
      if (o + RECORD_HEADER + 4 <= s.length) {
        const v = pick(rand, [0, 1, MAX_HANDSHAKE_MESSAGE, MAX_HANDSHAKE_MESSAGE + 1, 0xffffff, int(rand, 0x1000000)]);
        s[o + 6] = (v >> 16) & 0xff;
        s[o + 7] = (v >> 8) & 0xff;
        s[o + 8] = v & 0xff;
      }
      break;
    }
    case 5: { // content type
      const o = pick(rand, offsets);
      s[o] = rand() < 0.7 ? 20 + int(rand, 5) : int(rand, 256);
      break;
    }
    case 6: { // splice in bytes from another conversation
      const other = pick(rand, SOURCES).streams[rand() < 0.5 ? 'c2s' : 's2c'];
      const from = int(rand, Math.max(1, other.length));
      const piece = other.subarray(from, from + 1 + int(rand, 400));
      s = Buffer.concat([s.subarray(0, pos), piece, s.subarray(pos)]);
      break;
    }
    case 7: { // delete a range
      s = Buffer.concat([s.subarray(0, pos), s.subarray(pos + 1 + int(rand, 64))]);
      break;
    }
    default: { // off-by-one inside a length-prefixed vector somewhere in the first records
      const near = Math.min(s.length - 1, int(rand, 600));
      s[near] = (s[near]! + (rand() < 0.5 ? 1 : 255)) & 0xff;
    }
  }
  return s;
}

/** Cuts the (mutated) streams along the recorded chunk sizes, with extra random cuts, in recorded order. */
function conversation(rand: Rand, source: Source, streams: Record<TlsSender, Buffer>): Chunk[] {
  const pos: Record<TlsSender, number> = { c2s: 0, s2c: 0 };
  const out: Chunk[] = [];
  source.chunks.forEach((c, index) => {
    const isLastOfSide = !source.chunks.slice(index + 1).some((x) => x.dir === c.dir);
    const s = streams[c.dir];
    const end = isLastOfSide ? s.length : Math.min(s.length, pos[c.dir] + c.bytes.length);
    while (pos[c.dir] < end) {
      const size = rand() < 0.2 ? 1 + int(rand, 64) : end - pos[c.dir];
      const next = Math.min(end, pos[c.dir] + size);
      out.push({ dir: c.dir, bytes: s.subarray(pos[c.dir], next) });
      pos[c.dir] = next;
    }
  });
  return out;
}

function randomCase(rand: Rand): Chunk[] {
  const out: Chunk[] = [];
  for (let n = 1 + int(rand, 3); n > 0; n--) {
    const bytes = Buffer.alloc(int(rand, 300));
    for (let i = 0; i < bytes.length; i++) bytes[i] = int(rand, 256);
    if (bytes.length >= RECORD_HEADER && rand() < 0.5) {
      bytes[0] = 20 + int(rand, 5);
      bytes[1] = 3;
      bytes[2] = int(rand, 5);
    }
    out.push({ dir: rand() < 0.6 ? 'c2s' : 's2c', bytes });
  }
  return out;
}

function makeCase(rand: Rand): Chunk[] {
  if (rand() < 0.1) return randomCase(rand);
  const source = pick(rand, SOURCES);
  const streams = { ...source.streams };
  for (let k = 1 + int(rand, 3); k > 0; k--) {
    const dir: TlsSender = rand() < 0.5 ? 'c2s' : 's2c';
    streams[dir] = mutate(rand, streams[dir]);
  }
  return conversation(rand, source, streams);
}

test(`${CASES} seeded random and mutated conversations never throw and never over-buffer`, () => {
  const problems: string[] = [];
  let messagesSeen = 0;
  let errorsSeen = 0;
  for (let i = 0; i < CASES && problems.length < 5; i++) {
    const rand = prng(SEED + i);
    const chunks = makeCase(rand);
    const parser = new TlsConnectionParser();
    let errors = 0;
    let fed = 0;
    try {
      for (const c of chunks) {
        const wasDone = parser.done;
        const messages = parser.push(c.dir, c.bytes);
        fed += c.bytes.length;
        if (wasDone && messages.length > 0) problems.push(`case ${i}: messages after done`);
        for (const m of messages) {
          messagesSeen++;
          if (m.sender !== 'c2s' && m.sender !== 's2c') problems.push(`case ${i}: sender ${String(m.sender)}`);
          if (!KNOWN_TYPES.has(m.type)) problems.push(`case ${i}: unexpected type ${m.type}`);
          if (typeof m.details !== 'object' || m.details === null) problems.push(`case ${i}: details not an object`);
          if (m.type === 'Error') errors++;
        }
        const held = parser.bufferedBytes;
        if (held > BUFFER_BOUND || held > fed) problems.push(`case ${i}: ${held} bytes buffered after ${fed} fed`);
      }
      if (chunks[0]) peekClientHello(Buffer.concat(chunks.filter((c) => c.dir === 'c2s').map((c) => c.bytes)));
    } catch (err) {
      problems.push(`case ${i}: threw ${err instanceof Error ? err.stack : String(err)}`);
    }
    if (errors > 1) problems.push(`case ${i}: ${errors} Error events`);
    errorsSeen += errors;
  }
  assert.deepEqual(problems, []);
  // The corpus must exercise both paths: plenty of parsed messages and plenty of rejected input.
  assert.ok(messagesSeen > CASES * 2, `only ${messagesSeen} messages`);
  assert.ok(errorsSeen > CASES / 10, `only ${errorsSeen} errors`);
});
