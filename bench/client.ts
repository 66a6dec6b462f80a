/**
 * The load client, run as its own process (`node dist/bench/client.js '<json spec>'`) so that it
 * never shares an event loop with a target. It opens TCP to the target, sends CONNECT when the
 * target is a proxy, starts TLS inside (no session resumption, no certificate checks), then
 * writes HTTP/1.1 requests by hand and parses responses minimally (status line, Content-Length
 * or chunked). One request in flight per connection. Prints one JSON result on stdout.
 */
import net from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { pathToFileURL } from 'node:url';

export interface ClientTarget {
  /** Where TCP goes: the origin (direct) or the proxy. */
  port: number;
  /** Sends `CONNECT <authority>` first when set (proxies). */
  connectAuthority: string | null;
}

export type ClientSpec =
  | { mode: 'keepalive'; target: ClientTarget; name: string; path: string; connections: number; warmupMs: number; durationMs: number }
  | { mode: 'count'; target: ClientTarget; name: string; path: string; connections: number; requests: number; timeoutMs: number }
  | { mode: 'newconn'; target: ClientTarget; name: string; path: string; connections: number; warmupMs: number; durationMs: number }
  | { mode: 'names'; target: ClientTarget; path: string; names: string[] }
  | { mode: 'download'; target: ClientTarget; name: string; path: string; timeoutMs: number }
  | { mode: 'probe'; target: ClientTarget; name: string; path: string };

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  bodyBytes: number;
  /** Latency percentiles of the measured window, ms. */
  p50: number;
  p99: number;
  /** CPU the client itself used during the window, as a share of one core. */
  clientCpu: number;
  lastError: string | null;
}

export interface NamesResult {
  first: number[];
  repeat: number[];
  /** First responses whose body (the origin echoes the SNI it received) was the name itself. */
  sniMatched: number;
  errors: string[];
}

export interface DownloadResult {
  bytes: number;
  seconds: number;
  complete: boolean;
  error: string | null;
}

export interface ProbeResult {
  status: number;
  body: string;
  tlsVersion: string | null;
  error: string | null;
}

/** What the client process prints: its result and all the CPU it used (start-up included). */
export interface ClientAnswer {
  result: LoadResult | NamesResult | DownloadResult | ProbeResult;
  cpuSeconds: number;
}

const CRLF2 = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** TCP to the target, CONNECT if it is a proxy, TLS inside with SNI = name (and ALPN when given). */
export async function openTls(target: ClientTarget, name: string, alpn?: string[]): Promise<TLSSocket> {
  const raw = net.connect({ host: '127.0.0.1', port: target.port });
  raw.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    raw.once('connect', resolve);
    raw.once('error', reject);
  });
  if (target.connectAuthority !== null) {
    const authority = target.connectAuthority;
    raw.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
    await new Promise<void>((resolve, reject) => {
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf(CRLF2);
        if (end < 0) return;
        cleanup();
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1'))?.[1];
        if (status !== '200') reject(new Error(`CONNECT answered ${head.subarray(0, end).toString('latin1').split('\r\n')[0]}`));
        else if (end + 4 !== head.length) reject(new Error('bytes after the CONNECT response'));
        else resolve();
      };
      const onError = (err: Error): void => {
        cleanup();
        reject(err);
      };
      const onClose = (): void => onError(new Error('proxy closed the connection after CONNECT'));
      const cleanup = (): void => {
        raw.off('data', onData);
        raw.off('error', onError);
        raw.off('close', onClose);
        raw.pause();
      };
      raw.on('data', onData);
      raw.once('error', onError);
      raw.once('close', onClose);
    });
  }
  const socket = tls.connect({ socket: raw, servername: name, rejectUnauthorized: false, ...(alpn ? { ALPNProtocols: alpn } : {}) });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      resolve();
    });
    socket.once('error', reject);
  });
  return socket;
}

function requestBytes(name: string, path: string, close: boolean): Buffer {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${name}\r\nUser-Agent: mitmscope-bench\r\nAccept: */*\r\n${close ? 'Connection: close\r\n' : ''}\r\n`, 'latin1');
}

/**
 * One response, fed chunk by chunk: headers up to CRLFCRLF, then a Content-Length body or a
 * chunked one. Body bytes are counted (and optionally kept), never copied otherwise.
 */
class ResponseParser {
  status = 0;
  bodyBytes = 0;
  done = false;
  private head: Buffer | null = null;
  private inBody = false;
  private remaining = 0;
  private chunked = false;
  /** Chunked state: reading a size line, chunk data (+ its CRLF), or the trailer section. */
  private chunkState: 'size' | 'data' | 'trailer' = 'size';
  private line = Buffer.alloc(0);
  private readonly keep: Buffer[] | null;

  constructor(keepBody: boolean) {
    this.keep = keepBody ? [] : null;
  }

  body(): string {
    return this.keep ? Buffer.concat(this.keep).toString('latin1') : '';
  }

  /** Returns true once the response is complete. Throws on a malformed response. */
  push(chunk: Buffer): boolean {
    if (!this.inBody) {
      const buf = this.head ? Buffer.concat([this.head, chunk]) : chunk;
      const end = buf.indexOf(CRLF2);
      if (end < 0) {
        this.head = buf;
        return false;
      }
      this.head = null;
      this.parseHead(buf.toString('latin1', 0, end));
      this.inBody = true;
      chunk = buf.subarray(end + 4);
      if (!this.chunked && this.remaining === 0) return (this.done = true);
    }
    return this.chunked ? this.pushChunked(chunk) : this.pushFixed(chunk);
  }

  private parseHead(head: string): void {
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(head.slice(0, 80))}`);
    this.status = Number(m[1]);
    const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    this.chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(head);
    if (!this.chunked) {
      if (!cl) throw new Error('response without Content-Length or chunked encoding');
      this.remaining = Number(cl[1]);
    }
  }

  private take(chunk: Buffer): void {
    this.bodyBytes += chunk.length;
    if (this.keep) this.keep.push(Buffer.from(chunk));
  }

  private pushFixed(chunk: Buffer): boolean {
    const n = Math.min(chunk.length, this.remaining);
    this.take(n === chunk.length ? chunk : chunk.subarray(0, n));
    this.remaining -= n;
    if (this.remaining === 0) this.done = true;
    return this.done;
  }

  private pushChunked(chunk: Buffer): boolean {
    let i = 0;
    while (i < chunk.length && !this.done) {
      if (this.chunkState === 'data') {
        // `remaining` counts the chunk's data plus its trailing CRLF.
        const n = Math.min(chunk.length - i, this.remaining);
        const dataPart = Math.max(0, Math.min(n, this.remaining - 2));
        if (dataPart > 0) this.take(chunk.subarray(i, i + dataPart));
        this.remaining -= n;
        i += n;
        if (this.remaining === 0) this.chunkState = 'size';
        continue;
      }
      const rest = chunk.subarray(i);
      const joined = this.line.length > 0 ? Buffer.concat([this.line, rest]) : rest;
      const end = joined.indexOf(CRLF);
      if (end < 0) {
        this.line = Buffer.from(joined);
        return false;
      }
      const consumed = end + 2 - this.line.length;
      const text = joined.toString('latin1', 0, end);
      this.line = Buffer.alloc(0);
      i += consumed;
      if (this.chunkState === 'size') {
        const size = parseInt(text.split(';')[0]!, 16);
        if (Number.isNaN(size)) throw new Error(`bad chunk size ${JSON.stringify(text)}`);
        if (size === 0) this.chunkState = 'trailer';
        else {
          this.chunkState = 'data';
          this.remaining = size + 2;
        }
      } else if (text === '') this.done = true;
    }
    return this.done;
  }
}

/** A TLS connection with one request in flight at a time. */
class Connection {
  private parser: ResponseParser | null = null;
  private settle: ((err: Error | null) => void) | null = null;
  closed = false;

  constructor(readonly socket: TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      const p = this.parser;
      if (!p) return;
      let done: boolean;
      try {
        done = p.push(chunk);
      } catch (err) {
        this.finish(err as Error);
        socket.destroy();
        return;
      }
      if (done) this.finish(null);
    });
    socket.on('error', (err) => this.finish(err));
    socket.on('close', () => {
      this.closed = true;
      this.finish(new Error('connection closed mid-response'));
    });
  }

  private finish(err: Error | null): void {
    const s = this.settle;
    this.settle = null;
    this.parser = null;
    s?.(err);
  }

  /** Sends `bytes`, resolves with the parsed response; pass a parser to watch a long body as it arrives. */
  request(bytes: Buffer, keepBody = false, parser = new ResponseParser(keepBody)): Promise<ResponseParser> {
    if (this.closed) return Promise.reject(new Error('connection closed'));
    this.parser = parser;
    return new Promise<ResponseParser>((resolve, reject) => {
      this.settle = (err) => (err ? reject(err) : resolve(parser));
      this.socket.write(bytes);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * A load client's process: runs the spec given as JSON in argv[2], prints `{ result, cpuSeconds }`
 * (all the CPU the process used, start-up included) as one JSON line and exits 0, or prints the
 * error and exits 1.
 */
export function runAsChild<S, R>(label: string, run: (spec: S) => Promise<R>): void {
  const spec = JSON.parse(process.argv[2] ?? '{}') as S;
  run(spec).then(
    (result) => {
      const cpu = process.cpuUsage();
      process.stdout.write(`${JSON.stringify({ result, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`${label}: ${describe(err)}\n`);
      process.exit(1);
    },
  );
}

export function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return `${e.code ? `${e.code}: ` : ''}${e.message}`;
}

/** What a load client counts over its measured window (shared by the HTTP/1.1 and h2 clients). */
export interface Window {
  measuring: boolean;
  stop: boolean;
  requests: number;
  errors: number;
  bodyBytes: number;
  latencies: number[];
  lastError: string | null;
}

function newWindow(): Window {
  return { measuring: false, stop: false, requests: 0, errors: 0, bodyBytes: 0, latencies: [], lastError: null };
}

/** Counts one response that began at `started` (a non-200 counts as an error). */
export function record(w: Window, started: number, response: { status: number; bodyBytes: number }): void {
  if (!w.measuring) return;
  if (response.status !== 200) {
    w.errors++;
    w.lastError = `status ${response.status}`;
    return;
  }
  w.requests++;
  w.bodyBytes += response.bodyBytes;
  w.latencies.push(performance.now() - started);
}

export function fail(w: Window, err: unknown): void {
  if (!w.measuring) return;
  w.errors++;
  w.lastError = describe(err);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Keep-alive workers: each holds one connection and reconnects only if it is closed. */
async function keepAliveWorker(spec: { target: ClientTarget; name: string; path: string }, w: Window, budget: { left: number } | null): Promise<void> {
  const bytes = requestBytes(spec.name, spec.path, false);
  while (!w.stop) {
    let conn: Connection;
    try {
      conn = new Connection(await openTls(spec.target, spec.name));
    } catch (err) {
      fail(w, err);
      await sleep(20);
      continue;
    }
    while (!w.stop && !conn.closed) {
      if (budget) {
        if (budget.left <= 0) {
          w.stop = true;
          break;
        }
        budget.left--;
      }
      const started = performance.now();
      try {
        record(w, started, await conn.request(bytes));
      } catch (err) {
        fail(w, err);
        if (budget) budget.left++;
        break;
      }
    }
    conn.close();
  }
}

/** One fresh connection (CONNECT + TLS) per request, `Connection: close`. */
async function newConnWorker(spec: { target: ClientTarget; name: string; path: string }, w: Window): Promise<void> {
  const bytes = requestBytes(spec.name, spec.path, true);
  while (!w.stop) {
    const started = performance.now();
    let conn: Connection | null = null;
    try {
      conn = new Connection(await openTls(spec.target, spec.name));
      record(w, started, await conn.request(bytes));
    } catch (err) {
      fail(w, err);
      await sleep(5);
    } finally {
      conn?.close();
    }
  }
}

export function summarize(w: Window, seconds: number, cpuMicros: number): LoadResult {
  const sorted = Float64Array.from(w.latencies).sort();
  return {
    requests: w.requests,
    errors: w.errors,
    seconds,
    bodyBytes: w.bodyBytes,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    clientCpu: cpuMicros / 1e6 / seconds,
    lastError: w.lastError,
  };
}

async function timedLoad(connections: number, warmupMs: number, durationMs: number, worker: (w: Window) => Promise<void>): Promise<LoadResult> {
  const w = newWindow();
  const workers = Array.from({ length: connections }, () => worker(w));
  await sleep(warmupMs);
  w.measuring = true;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(durationMs);
  w.measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  w.stop = true;
  await Promise.race([Promise.all(workers), sleep(5000)]);
  return summarize(w, seconds, cpu.user + cpu.system);
}

async function countLoad(spec: { target: ClientTarget; name: string; path: string; connections: number; requests: number; timeoutMs: number }): Promise<LoadResult> {
  const w = newWindow();
  w.measuring = true;
  const budget = { left: spec.requests };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const timer = setTimeout(() => (w.stop = true), spec.timeoutMs);
  await Promise.all(Array.from({ length: spec.connections }, () => keepAliveWorker(spec, w, budget)));
  clearTimeout(timer);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return summarize(w, seconds, cpu.user + cpu.system);
}

/** For each never-seen name: a new connection + first request, then another new connection + request. */
async function names(spec: { target: ClientTarget; path: string; names: string[] }): Promise<NamesResult> {
  const out: NamesResult = { first: [], repeat: [], sniMatched: 0, errors: [] };
  for (const name of spec.names) {
    const bytes = requestBytes(name, spec.path, true);
    for (const round of ['first', 'repeat'] as const) {
      const started = performance.now();
      let conn: Connection | null = null;
      try {
        conn = new Connection(await openTls(spec.target, name));
        const parser = await conn.request(bytes, true);
        const ms = performance.now() - started;
        if (parser.status !== 200) throw new Error(`status ${parser.status}`);
        out[round].push(ms);
        if (round === 'first' && parser.body() === name) out.sniMatched++;
      } catch (err) {
        out.errors.push(`${name} ${round}: ${describe(err)}`);
      } finally {
        conn?.close();
      }
    }
  }
  return out;
}

async function download(spec: { target: ClientTarget; name: string; path: string; timeoutMs: number }): Promise<DownloadResult> {
  const t0 = performance.now();
  let conn: Connection | null = null;
  const parser = new ResponseParser(false);
  const elapsed = (): number => (performance.now() - t0) / 1000;
  try {
    conn = new Connection(await openTls(spec.target, spec.name));
    const c = conn;
    const timer = setTimeout(() => c.socket.destroy(new Error(`not finished within ${spec.timeoutMs} ms`)), spec.timeoutMs);
    await c.request(requestBytes(spec.name, spec.path, false), false, parser).finally(() => clearTimeout(timer));
    return { bytes: parser.bodyBytes, seconds: elapsed(), complete: parser.status === 200, error: parser.status === 200 ? null : `status ${parser.status}` };
  } catch (err) {
    return { bytes: parser.bodyBytes, seconds: elapsed(), complete: false, error: describe(err) };
  } finally {
    conn?.close();
  }
}

async function probe(spec: { target: ClientTarget; name: string; path: string }): Promise<ProbeResult> {
  let conn: Connection | null = null;
  try {
    conn = new Connection(await openTls(spec.target, spec.name));
    const parser = await conn.request(requestBytes(spec.name, spec.path, false), true);
    return { status: parser.status, body: parser.body(), tlsVersion: conn.socket.getProtocol(), error: null };
  } catch (err) {
    return { status: 0, body: '', tlsVersion: null, error: describe(err) };
  } finally {
    conn?.close();
  }
}

export async function runClient(spec: ClientSpec): Promise<LoadResult | NamesResult | DownloadResult | ProbeResult> {
  switch (spec.mode) {
    case 'keepalive':
      return timedLoad(spec.connections, spec.warmupMs, spec.durationMs, (w) => keepAliveWorker(spec, w, null));
    case 'newconn':
      return timedLoad(spec.connections, spec.warmupMs, spec.durationMs, (w) => newConnWorker(spec, w));
    case 'count':
      return countLoad(spec);
    case 'names':
      return names(spec);
    case 'download':
      return download(spec);
    case 'probe':
      return probe(spec);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) runAsChild('bench client', runClient);
