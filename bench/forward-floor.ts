/**
 * What forwarding itself costs in Node, without capture or taps: a minimal intercepting proxy
 * (CONNECT, TLS terminated natively with one certificate, an inner http server) that forwards
 * each request to the origin three ways, each in its own process under the bench client's load.
 * Compared with mitmscope --no-tls-tap this shows how much of mitmscope's CPU per request is
 * the forwarding stack and how much is mitmscope's own work.
 *   http-proxy    http-proxy over a keep-alive https.Agent (mitmscope's stack, minus capture and taps)
 *   http-request  https.request + pipe over a keep-alive https.Agent
 *   undici        an undici Pool (keep-alive, pipelining 1), body streamed back
 *
 *   node dist/bench/forward-floor.js [seconds]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import httpProxy from 'http-proxy';
import { Pool } from 'undici';
import { selfSigned } from '../test/helpers/pki.js';
import type { ClientSpec, LoadResult } from './client.js';
import { killAllNow, readProc, track } from './procs.js';
import { runClientProcess } from './scenarios.js';
import { PATHS, startOrigin } from './upstream.js';

const VARIANTS = ['http-proxy', 'http-request', 'undici'] as const;
type Variant = (typeof VARIANTS)[number];

function forwarder(variant: Variant, originPort: number, servername: string): (req: IncomingMessage, res: ServerResponse) => void {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 256, rejectUnauthorized: false, servername });
  if (variant === 'http-proxy') {
    const proxy = httpProxy.createProxyServer({ xfwd: false, preserveHeaderKeyCase: true, secure: false });
    proxy.on('error', () => {});
    return (req, res) => proxy.web(req, res, { target: { protocol: 'https:', host: '127.0.0.1', port: originPort }, agent });
  }
  if (variant === 'http-request') {
    return (req, res) => {
      const up = https.request({ host: '127.0.0.1', port: originPort, path: req.url, method: req.method, headers: req.headers, agent, servername }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
  }
  const pool = new Pool(`https://127.0.0.1:${originPort}`, { connect: { rejectUnauthorized: false, servername }, connections: 256, pipelining: 1 });
  return (req, res) => {
    pool.request({ path: req.url ?? '/', method: (req.method ?? 'GET') as 'GET', headers: req.headers as Record<string, string> }).then(
      (r) => {
        res.writeHead(r.statusCode, r.headers as http.OutgoingHttpHeaders);
        r.body.pipe(res);
      },
      () => res.destroy(),
    );
  };
}

function serve(variant: Variant, originPort: number, servername: string): void {
  const pair = selfSigned(servername);
  const context = tls.createSecureContext({ key: pair.keyPem, cert: pair.certPem });
  const inner = http.createServer(forwarder(variant, originPort, servername));
  const outer = http.createServer();
  outer.on('connect', (_req: IncomingMessage, socket: Socket) => {
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    const tlsSocket = new tls.TLSSocket(socket, { isServer: true, secureContext: context });
    tlsSocket.on('error', () => tlsSocket.destroy());
    tlsSocket.once('secure', () => inner.emit('connection', tlsSocket));
  });
  outer.listen(0, '127.0.0.1', () => process.stdout.write(`port ${(outer.address() as AddressInfo).port}\n`));
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 8);
  const dir = mkdtempSync(join(tmpdir(), 'mitmscope-floor-'));
  process.on('exit', () => {
    killAllNow();
    rmSync(dir, { recursive: true, force: true });
  });
  const origin = await startOrigin(dir, 0, 'floor');
  const rows: string[] = [];
  try {
    for (const variant of VARIANTS) {
      const child = track(spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve', variant, String(origin.port), origin.defaultName], { stdio: ['ignore', 'pipe', 'inherit'] }));
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /port (\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        child.once('exit', () => reject(new Error(`${variant} exited`)));
      });
      const base = { target: { port, connectAuthority: `127.0.0.1:${origin.port}` }, name: origin.defaultName, warmupMs: 1000, durationMs: seconds * 1000 };
      const specs: [string, ClientSpec, (r: LoadResult) => string][] = [
        ['keep-alive 1 KiB ×16', { mode: 'keepalive', ...base, path: PATHS.small, connections: 16 }, (r) => `${(r.requests / r.seconds).toFixed(0)} req/s`],
        ['keep-alive 1 MiB ×4', { mode: 'keepalive', ...base, path: PATHS.medium, connections: 4 }, (r) => `${(r.bodyBytes / 2 ** 20 / r.seconds).toFixed(0)} MiB/s`],
      ];
      for (const [name, spec, show] of specs) {
        const a = readProc(child.pid!);
        const { value } = await runClientProcess<LoadResult>(spec, seconds * 1000 + 20_000);
        const b = readProc(child.pid!);
        const window = value.seconds + base.warmupMs / 1000;
        const cpu = a && b ? (b.cpuSeconds - a.cpuSeconds) / window : NaN;
        rows.push(`| ${variant} | ${name} | ${show(value)} | ${cpu.toFixed(2)} | ${((cpu / (value.requests / value.seconds)) * 1e6).toFixed(0)} | ${value.errors} |`);
      }
      child.kill('SIGKILL');
    }
  } finally {
    await origin.close();
  }
  console.log(['| forwarder | load | result | proxy CPU (cores) | proxy CPU µs per request | errors |', '| --- | --- | --- | --- | --- | --- |', ...rows].join('\n'));
}

if (process.argv[2] === 'serve') serve(process.argv[3] as Variant, Number(process.argv[4]), process.argv[5] ?? 'localhost');
else
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
