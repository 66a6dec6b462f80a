/**
 * `node --import tsx bench/h2-live.ts [rounds] [MiB]`: what pushing HTTP/2 frames live costs.
 * An in-process mitmscope with its dashboard, a Node h2 origin and a Node h2 client through the
 * proxy (one session): a bulk download on one stream (DATA and WINDOW_UPDATE on every chunk) and
 * 1,000 small requests 50 at a time (HEADERS, DATA, END_STREAM on many streams), each with no
 * dashboard tab, with one tab reading the live feed but the store announcing no frames (the feed
 * as it was: flow summaries only), and with one tab and the frames. The order rotates between
 * rounds; every round's values are printed, with the feed's messages, bytes and h2-frames
 * events. Everything runs in one process on a shared machine: compare within a round, not runs.
 */
import http2, { type ClientHttp2Session } from 'node:http2';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { start, type Running } from '../src/app.js';
import { DEFAULTS } from '../src/config.js';
import { TestCa } from '../test/helpers/pki.js';
import { tlsThroughProxy } from '../test/helpers/tunnel.js';

const ROUNDS = Number(process.argv[2] ?? 3);
const MIB = Number(process.argv[3] ?? 32);
const REQUESTS = 1000;
const CONCURRENCY = 50;
const TOKEN = 'bench-h2-live';
const CHUNK = Buffer.alloc(16 * 1024, 0x61);

type Mode = 'no tab' | 'tab, no frames' | 'tab + frames';
const MODES: readonly Mode[] = ['no tab', 'tab, no frames', 'tab + frames'];

interface Figures {
  mibPerS: number;
  reqPerS: number;
  messages: number;
  bytes: number;
  frames: number;
}

function request(session: ClientHttp2Session, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path });
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => resolve(n));
    req.on('error', reject);
  });
}

async function measure(running: Running, port: number, mode: Mode): Promise<Figures> {
  const feed = { messages: 0, bytes: 0, frames: 0 };
  let ws: WebSocket | null = null;
  const store = running.store;
  // The feed as it was before frames were pushed: the store announces none.
  if (mode === 'tab, no frames') store.h2Frames = () => undefined;
  if (mode !== 'no tab') {
    const url = new URL(running.dashboardUrl!);
    ws = new WebSocket(`ws://localhost:${url.port}/api/live?token=${TOKEN}`);
    ws.on('message', (data: Buffer) => {
      feed.messages += 1;
      feed.bytes += data.length;
      feed.frames += data.toString('latin1').split('"type":"h2-frames"').length - 1;
    });
    await new Promise<void>((resolve, reject) => {
      ws!.once('open', () => resolve());
      ws!.once('error', reject);
    });
  }
  const ca = await readFile(join(running.config.caDir, 'ca.pem'), 'utf8');
  const socket = await tlsThroughProxy(running.proxyPort, `localhost:${port}`, { ca, servername: 'localhost', ALPNProtocols: ['h2'] });
  const session = http2.connect(`https://localhost:${port}`, { createConnection: () => socket });
  session.on('error', () => {});
  let t0 = performance.now();
  const got = await request(session, `/bulk/${MIB}`);
  const mibPerS = got / 1024 / 1024 / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        next += 1;
        await request(session, `/small/${next}`);
      }
    }),
  );
  const reqPerS = REQUESTS / ((performance.now() - t0) / 1000);
  await new Promise<void>((resolve) => session.close(() => resolve()));
  await running.store.flushed();
  ws?.close();
  Reflect.deleteProperty(store, 'h2Frames');
  return { mibPerS, reqPerS, ...feed };
}

const ca = new TestCa();
const pair = ca.issue(['localhost']);
const origin = http2.createSecureServer({ key: pair.keyPem, cert: pair.certPem });
origin.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
  const path = String(headers[':path']);
  if (!path.startsWith('/bulk/')) return void stream.end(CHUNK.subarray(0, 1024));
  let left = Number(path.slice(6)) * 64;
  const write = (): void => {
    while (left > 0) {
      left -= 1;
      if (!stream.write(CHUNK)) return void stream.once('drain', write);
    }
    stream.end();
  };
  write();
});
await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', () => resolve()));
const port = (origin.address() as AddressInfo).port;
const dir = await mkdtemp(join(tmpdir(), 'mitmscope-bench-h2-live-'));
const upstreamCa = join(dir, 'origin-ca.pem');
await writeFile(upstreamCa, ca.certPem);
const running = await start({ ...DEFAULTS, port: 0, ui: true, uiPort: 0, token: TOKEN, caDir: join(dir, 'ca'), session: join(dir, 'session'), upstreamCa: [upstreamCa] });
try {
  // Warm-up: the JIT, the upstream session and the certificate cache.
  await measure(running, port, 'tab + frames');
  console.log(`${MIB} MiB download on one stream, then ${REQUESTS} 1 KiB requests ${CONCURRENCY} at a time, one h2 session`);
  console.log('round  mode             MiB/s   req/s  feed messages  feed KiB  h2-frames events');
  for (let round = 1; round <= ROUNDS; round++) {
    for (let i = 0; i < MODES.length; i++) {
      const mode = MODES[(i + round - 1) % MODES.length]!;
      const f = await measure(running, port, mode);
      console.log(`${String(round).padEnd(6)} ${mode.padEnd(15)} ${f.mibPerS.toFixed(0).padStart(6)}  ${f.reqPerS.toFixed(0).padStart(6)}  ${String(f.messages).padStart(13)}  ${(f.bytes / 1024).toFixed(0).padStart(8)}  ${String(f.frames).padStart(16)}`);
    }
  }
} finally {
  await running.close();
  await new Promise<void>((resolve) => origin.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
}
