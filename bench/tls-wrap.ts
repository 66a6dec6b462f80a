/**
 * What running TLS over a JS stream costs (src/proxy/tapped-stream.ts wraps every socket in a
 * JS Duplex so that the handshake bytes can be observed, which makes Node run TLS over
 * JSStreamSocket instead of on the TCP handle in C++). One HTTPS server, three ways, each in its
 * own process under the bench client's load; CPU per request is the figure that survives a
 * shared machine.
 *   native     https.createServer: TLS on the TCP handle
 *   js-stream  net server → TappedStream (observer null) → tls.TLSSocket → http server (mitmscope's path:
 *              the socket corked until the end of the tick, so every record of a tick leaves in one writev)
 *   js-plain   the same with every TLS record its own socket write
 *   js-joined  the same with records handed over together joined (Buffer.concat) into one write
 *
 *   node dist/bench/tls-wrap.js [seconds]
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { TappedStream } from '../src/proxy/tapped-stream.js';
import { selfSigned } from '../test/helpers/pki.js';
import type { ClientSpec, LoadResult } from './client.js';
import { killAllNow, readProc, track } from './procs.js';
import { runClientProcess } from './scenarios.js';
import { MEDIUM_BYTES, SMALL_BYTES } from './upstream.js';

const VARIANTS = ['native', 'js-stream', 'js-plain', 'js-joined'] as const;
type Variant = (typeof VARIANTS)[number];

/** TappedStream without batching: every record TLS hands over is its own socket write. */
class PlainStream extends TappedStream {
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.bytesOut += chunk.length;
    if (this.socket.write(chunk)) callback();
    else this.once('rawDrain', () => callback());
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    let ok = true;
    for (const { chunk } of chunks) {
      this.bytesOut += chunk.length;
      ok = this.socket.write(chunk) && ok;
    }
    if (ok) callback();
    else this.once('rawDrain', () => callback());
  }
}

/** TappedStream whose _writev copies the records TLS hands over together into one Buffer, then writes it. */
class JoinedStream extends PlainStream {
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    let n = 0;
    for (const c of chunks) n += c.chunk.length;
    this.bytesOut += n;
    if (this.socket.write(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk), n))) callback();
    else this.once('rawDrain', () => callback());
  }
}

function serve(variant: Variant): void {
  const pair = selfSigned('bench.test');
  const small = Buffer.alloc(SMALL_BYTES, 0x78);
  const medium = Buffer.alloc(MEDIUM_BYTES, 0x61);
  const handler: http.RequestListener = (req, res) => {
    const body = req.url === '/1m' ? medium : small;
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  };
  let server: net.Server;
  if (variant === 'native') server = https.createServer({ key: pair.keyPem, cert: pair.certPem }, handler);
  else {
    const inner = http.createServer(handler);
    const context = tls.createSecureContext({ key: pair.keyPem, cert: pair.certPem });
    server = net.createServer((raw) => {
      raw.setNoDelay(true);
      const stream = variant === 'js-plain' ? new PlainStream(raw, null) : variant === 'js-joined' ? new JoinedStream(raw, null) : new TappedStream(raw, null);
      const socket = new tls.TLSSocket(stream as unknown as Socket, { isServer: true, secureContext: context });
      socket.once('secure', () => inner.emit('connection', socket));
      socket.on('error', () => socket.destroy());
    });
  }
  server.listen(0, '127.0.0.1', () => process.stdout.write(`port ${(server.address() as AddressInfo).port}\n`));
}

async function measure(variant: Variant, seconds: number): Promise<string[]> {
  const child = track(spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve', variant], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`${variant} server exited`)));
  });
  const rows: string[] = [];
  const target = { port, connectAuthority: null };
  const base = { target, name: 'bench.test', warmupMs: 1000, durationMs: seconds * 1000 };
  const specs: [string, ClientSpec, (r: LoadResult) => string][] = [
    ['keep-alive 1 KiB ×16', { mode: 'keepalive', ...base, path: '/1k', connections: 16 }, (r) => `${(r.requests / r.seconds).toFixed(0)} req/s`],
    ['new connection ×8', { mode: 'newconn', ...base, path: '/1k', connections: 8 }, (r) => `${(r.requests / r.seconds).toFixed(0)} req/s`],
    ['keep-alive 1 MiB ×4', { mode: 'keepalive', ...base, path: '/1m', connections: 4 }, (r) => `${(r.bodyBytes / 2 ** 20 / r.seconds).toFixed(0)} MiB/s`],
  ];
  try {
    for (const [name, spec, show] of specs) {
      const a = readProc(child.pid!);
      const { value } = await runClientProcess<LoadResult>(spec, seconds * 1000 + 20_000);
      const b = readProc(child.pid!);
      const cpu = a && b ? b.cpuSeconds - a.cpuSeconds : NaN;
      // The server's CPU over warm-up + window, per request of the window (the warm-up share is small and equal).
      const window = value.seconds + base.warmupMs / 1000;
      rows.push(`| ${variant} | ${name} | ${show(value)} | ${(cpu / window).toFixed(2)} | ${((cpu / window / (value.requests / value.seconds)) * 1e6).toFixed(0)} |`);
    }
  } finally {
    child.kill('SIGKILL');
  }
  return rows;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 6);
  process.on('exit', killAllNow);
  const rows: string[] = [];
  for (const v of VARIANTS) rows.push(...(await measure(v, seconds)));
  console.log(['| server | load | result | server CPU (cores) | server CPU µs per request |', '| --- | --- | --- | --- | --- |', ...rows].join('\n'));
}

if (process.argv[2] === 'serve') serve(process.argv[3] as Variant);
else
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
