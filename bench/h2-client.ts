/**
 * The HTTP/2 load client, run as its own process (`node dist/bench/h2-client.js '<json spec>'`),
 * like client.ts. Per connection: TCP to the target, `CONNECT` when the target is a proxy, TLS
 * inside with SNI and ALPN `h2` only (anything else than `h2` chosen by the server is an error:
 * no silent HTTP/1.1), then Node's http2 session on that TLS socket
 * (`http2.connect(authority, { createConnection: () => tlsSocket })`). Each connection carries
 * `streams` concurrent streams, each asking for `path` again as soon as its response has ended.
 * Prints one JSON `H2Answer` on stdout.
 *
 * Why an h2 load script over CONNECT can hang (reproduced direct, through mitmscope and through
 * mitmdump alike, so not a proxy bug):
 * - **Waiting for an event that has already fired.** The TLS socket handed to `http2.connect` is
 *   already connected and its handshake done: waiting on its `connect` or `secureConnect` never
 *   returns. The session's `connect` and `remoteSettings` fire soon after `http2.connect` (the
 *   server's SETTINGS come right behind the handshake): a listener added at once, or after a
 *   `setImmediate`, sees them; one added after an await that lets I/O run (50 ms in the
 *   reproduction, or waiting for other connections first) waits forever, with 0 responses.
 *   This client checks the socket's ALPN synchronously and sends requests at once: the session
 *   queues them until its preface is out, and the only events waited on are per stream
 *   (`end`, `close`, `error`), attached when the stream is made.
 * - **Not reading response bodies.** Resolving on `response` without consuming the body works
 *   for 1 KiB (it fits the stream's buffer and the stream closes), but with 1 MiB bodies the
 *   unread streams never close and keep their flow-control credit: after 100–128 responses
 *   (the server's concurrent-stream limit) nothing moves. Every body here is drained to `end`.
 * - Without ALPN `h2` the server speaks HTTP/1.1 and the session dies with a protocol error,
 *   hence the loud ALPN check.
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { pathToFileURL } from 'node:url';
import { describe, fail, openTls, record, runAsChild, summarize, type ClientTarget, type LoadResult, type Window as LoadWindow } from './client.js';

export type H2Spec =
  | { mode: 'h2load'; target: ClientTarget; name: string; path: string; connections: number; streams: number; warmupMs: number; durationMs: number }
  | { mode: 'h2probe'; target: ClientTarget; name: string; paths: string[] };

export interface H2LoadResult extends LoadResult {
  /** h2 sessions opened over the run; more than `connections` means sessions were lost and reopened. */
  sessions: number;
}

export interface H2ProbeResult {
  /** ALPN protocol the target chose on the client leg (null: none). */
  alpn: string | null;
  tlsVersion: string | null;
  responses: { path: string; status: number; body: string }[];
  error: string | null;
}

/** What the process prints (the same shape as client.ts's `ClientAnswer`). */
export interface H2Answer {
  result: H2LoadResult | H2ProbeResult;
  cpuSeconds: number;
}

const ALPN = ['h2'];
/** A stream with no response within this long counts as failed (and its session is dropped). */
const STREAM_TIMEOUT_MS = 10_000;

/** A TLS socket on which the server chose h2, or an error saying what it chose instead. */
async function openH2Socket(target: ClientTarget, name: string): Promise<TLSSocket> {
  const socket = await openTls(target, name, ALPN);
  const chosen = socket.alpnProtocol;
  if (chosen !== 'h2') {
    socket.destroy();
    throw new Error(`h2 not negotiated: ALPN ${chosen ? `chose ${JSON.stringify(chosen)}` : 'chose no protocol (the server ignored ALPN)'}`);
  }
  return socket;
}

/** An h2 session over an already connected TLS socket (see the note at the top about not waiting for `connect`). */
function sessionOn(socket: TLSSocket, name: string): ClientHttp2Session {
  const session = http2.connect(`https://${name}`, { createConnection: () => socket });
  // Errors also surface on the streams; without a listener a session error would be thrown.
  session.on('error', () => {});
  return session;
}

interface Response {
  status: number;
  bodyBytes: number;
  body: string;
}

/** One GET: resolves once the response has ended, its body drained (and kept if asked). */
function get(session: ClientHttp2Session, path: string, keepBody: boolean): Promise<Response> {
  return new Promise((resolve, reject) => {
    let stream: ClientHttp2Stream;
    try {
      stream = session.request({ ':method': 'GET', ':path': path, 'user-agent': 'mitmscope-bench', accept: '*/*' });
    } catch (err) {
      return reject(err as Error);
    }
    let status = 0;
    let bodyBytes = 0;
    const chunks: Buffer[] = [];
    stream.setTimeout(STREAM_TIMEOUT_MS, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    stream.once('response', (headers) => (status = Number(headers[':status'])));
    stream.on('data', (chunk: Buffer) => {
      bodyBytes += chunk.length;
      if (keepBody) chunks.push(chunk);
    });
    stream.once('end', () => resolve({ status, bodyBytes, body: Buffer.concat(chunks).toString('latin1') }));
    stream.once('error', reject);
    stream.once('close', () => {
      if (!stream.readableEnded) reject(new Error(`stream closed before its response ended (RST_STREAM code ${stream.rstCode ?? '?'})`));
    });
  });
}

interface Window extends LoadWindow {
  sessions: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One connection: `streams` loops sharing one session; a lost session is replaced by a new one. */
async function connectionWorker(spec: Extract<H2Spec, { mode: 'h2load' }>, w: Window): Promise<void> {
  while (!w.stop) {
    let session: ClientHttp2Session;
    try {
      session = sessionOn(await openH2Socket(spec.target, spec.name), spec.name);
      w.sessions++;
    } catch (err) {
      fail(w, err);
      await sleep(20);
      continue;
    }
    const loop = async (): Promise<void> => {
      while (!w.stop && !session.closed && !session.destroyed) {
        const started = performance.now();
        try {
          record(w, started, await get(session, spec.path, false));
        } catch (err) {
          fail(w, err);
          // A stream error on a live session is that stream's; a dead session ends every loop.
          if (session.destroyed || session.closed) break;
        }
      }
    };
    await Promise.all(Array.from({ length: spec.streams }, loop));
    session.destroy();
  }
}

async function h2load(spec: Extract<H2Spec, { mode: 'h2load' }>): Promise<H2LoadResult> {
  const w: Window = { measuring: false, stop: false, requests: 0, errors: 0, bodyBytes: 0, latencies: [], lastError: null, sessions: 0 };
  const workers = Array.from({ length: spec.connections }, () => connectionWorker(spec, w));
  await sleep(spec.warmupMs);
  w.measuring = true;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(spec.durationMs);
  w.measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  w.stop = true;
  await Promise.race([Promise.all(workers), sleep(5000)]);
  return { ...summarize(w, seconds, cpu.user + cpu.system), sessions: w.sessions };
}

/** One connection, the paths asked for in turn: which protocol each leg used. */
async function h2probe(spec: Extract<H2Spec, { mode: 'h2probe' }>): Promise<H2ProbeResult> {
  const out: H2ProbeResult = { alpn: null, tlsVersion: null, responses: [], error: null };
  let socket: TLSSocket | null = null;
  let session: ClientHttp2Session | null = null;
  try {
    socket = await openTls(spec.target, spec.name, ALPN);
    out.alpn = socket.alpnProtocol || null;
    out.tlsVersion = socket.getProtocol();
    if (out.alpn !== 'h2') throw new Error(`h2 not negotiated: ALPN ${out.alpn ? `chose ${JSON.stringify(out.alpn)}` : 'chose no protocol'}`);
    session = sessionOn(socket, spec.name);
    for (const path of spec.paths) {
      const res = await get(session, path, true);
      out.responses.push({ path, status: res.status, body: res.body });
    }
  } catch (err) {
    out.error = describe(err);
  } finally {
    if (session) session.destroy();
    else socket?.destroy();
  }
  return out;
}

export function runH2Client(spec: H2Spec): Promise<H2LoadResult | H2ProbeResult> {
  return spec.mode === 'h2load' ? h2load(spec) : h2probe(spec);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) runAsChild('bench h2 client', runH2Client);
