/**
 * `node --import tsx bench/first-speaker.ts [rounds] [clients]`: what telling server-speaks-first
 * tunnels by the server (proxy/first-speaker.ts) gains and costs, through an in-process mitmscope.
 * 1. Greeting delay: ms from the CONNECT answer to the first byte of an SMTP-like server that
 *    greets at once, per round (a quiet period plus one TCP connect; a fixed 3 s client timer
 *    decided this before).
 * 2. Probes under load: `clients` concurrent TLS clients on fresh connections. Counted: origin
 *    connections closed without a byte read (probes a quiet client caused and then closed by
 *    speaking), and clients that saw the mitmscope leaf (all must: none may be tunnelled raw).
 *    The clients share the proxy's process and event loop: far beyond 500 at once, connections
 *    wait in the listen backlog (511) and some are reset before the proxy accepts them; those are
 *    printed as client failures, and no flow exists for them.
 */
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { start } from '../src/app.js';
import { DEFAULTS } from '../src/config.js';
import { TestCa } from '../test/helpers/pki.js';
import { connectTunnel } from '../test/helpers/tunnel.js';

const ROUNDS = Number(process.argv[2] ?? 5);
const CLIENTS = Number(process.argv[3] ?? 500);

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const dir = await mkdtemp(join(tmpdir(), 'mitmscope-bench-first-speaker-'));
const ca = new TestCa();
await writeFile(join(dir, 'origin-ca.pem'), ca.certPem);
const running = await start({ ...DEFAULTS, port: 0, ui: false, caDir: join(dir, 'ca'), session: join(dir, 'session'), upstreamCa: [join(dir, 'origin-ca.pem')] });
const proxyCa = await readFile(join(dir, 'ca', 'ca.pem'), 'utf8');

// 1. Greeting delay.
const accepted = new Set<Socket>();
const smtp = createServer((s) => {
  accepted.add(s);
  s.end('220 smtp.test ESMTP\r\n');
});
const smtpPort = await listen(smtp);
const delays: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  const client = await connectTunnel(running.proxyPort, `127.0.0.1:${smtpPort}`);
  const t0 = performance.now();
  client.resume();
  await once(client, 'data');
  delays.push(performance.now() - t0);
  client.destroy();
}
console.log(`greeting delay after CONNECT: median ${median(delays).toFixed(0)} ms; rounds ${delays.map((d) => d.toFixed(0)).join(', ')} ms`);
for (const s of accepted) s.destroy();
smtp.close();

// 2. Probes under load.
const pair = ca.issue(['localhost']);
let probes = 0;
let originConnections = 0;
const originSockets = new Set<Socket>();
const origin = https.createServer({ key: pair.keyPem, cert: pair.certPem }, (_req, res) => res.end('ok'));
origin.on('connection', (s: Socket) => {
  originConnections += 1;
  originSockets.add(s);
  s.once('close', () => {
    originSockets.delete(s);
    if (s.bytesRead === 0) probes += 1;
  });
});
const originPort = await listen(origin);
const t0 = performance.now();
const failures = new Map<string, number>();
const intercepted = await Promise.all(
  Array.from({ length: CLIENTS }, async () => {
    try {
      const raw = await connectTunnel(running.proxyPort, `localhost:${originPort}`);
      const socket = tls.connect({ socket: raw, servername: 'localhost', ca: proxyCa });
      await once(socket, 'secureConnect');
      const mitm = /mitmscope/i.test(new X509Certificate(socket.getPeerCertificate().raw).issuer);
      socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      socket.resume();
      await once(socket, 'close');
      return mitm;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      failures.set(code, (failures.get(code) ?? 0) + 1);
      return false;
    }
  }),
);
const wallMs = performance.now() - t0;
const tunnels = running.store.list().filter((f) => f.kind === 'tunnel' && f.port === originPort).length;
const flowErrors = new Map<string, number>();
for (const f of running.store.list()) if (f.port === originPort && f.error) flowErrors.set(`${f.kind} ${f.error.code}`, (flowErrors.get(`${f.kind} ${f.error.code}`) ?? 0) + 1);
await running.close();
for (const s of originSockets) s.destroy();
origin.close();
console.log(
  `${CLIENTS} concurrent TLS clients in ${(wallMs / 1000).toFixed(1)} s: ${intercepted.filter(Boolean).length} intercepted, ${tunnels} tunnelled raw; ` +
    `${probes} probes (origin connections closed unread) of ${originConnections} origin connections` +
    (failures.size > 0 ? `; client failures: ${[...failures].map(([code, n]) => `${code} ×${n}`).join(', ')}` : '') +
    (flowErrors.size > 0 ? `; flow errors: ${[...flowErrors].map(([code, n]) => `${code} ×${n}`).join(', ')}` : ''),
);
await rm(dir, { recursive: true, force: true });
