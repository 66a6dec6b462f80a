/**
 * The benchmark's HTTPS origin: Debian's nginx as a child process with a generated config in a
 * temporary folder (one `server` block and certificate per host name, so SNI picks the
 * certificate; HTTP/2 and HTTP/1.1 by ALPN), or a Node HTTP/2 server (HTTP/1.1 allowed) when nginx is not installed. Every target — direct and
 * through each proxy — talks to this same origin in the same run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { TestCa, type KeyPair } from '../test/helpers/pki.js';
import { stopChild, track } from './procs.js';

const NGINX = '/usr/sbin/nginx';
export const SMALL_BYTES = 1024;
export const MEDIUM_BYTES = 1024 * 1024;
export const HUGE_BYTES = 1024 * 1024 * 1024;
/**
 * Paths every origin serves. `/sni` answers with the SNI the origin received (SNI forwarding
 * check), `/proto` with the protocol of the request as the origin saw it (`HTTP/2.0` or
 * `HTTP/1.1`: which protocol a proxy's upstream leg used).
 */
export const PATHS = { small: '/1k', medium: '/1m', huge: '/1g', sni: '/sni', proto: '/proto' } as const;
/** nginx closes a keep-alive connection after 1000 requests by default (1.19.10+): the load runs far past that. */
const KEEPALIVE_REQUESTS = 100_000_000;
const READY_TIMEOUT_MS = 10_000;

export interface Origin {
  kind: 'nginx' | 'node';
  /** Human description for the report. */
  label: string;
  port: number;
  /** The default name and the never-seen names of scenario 4, each with its own certificate. */
  defaultName: string;
  names: string[];
  /** PEM file of the CA that issued every origin certificate (the proxies trust it upstream). */
  caFile: string;
  /** PID to sample, null for the in-process fallback. */
  pid: number | null;
  close(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port: number, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (!alive()) throw new Error(`the process meant to listen on ${port} exited`);
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function smallBody(): string {
  return 'x'.repeat(SMALL_BYTES);
}

async function writeFiles(dir: string): Promise<void> {
  await writeFile(join(dir, '1m.bin'), Buffer.alloc(MEDIUM_BYTES, 0x61));
  // Sparse: the kernel serves zero pages, so the origin costs no disk and little CPU.
  const fh = await open(join(dir, '1g.bin'), 'w');
  await fh.truncate(HUGE_BYTES);
  await fh.close();
}

function nginxConfig(dir: string, port: number, servers: { name: string; cert: string; key: string }[]): string {
  const locations = `
        location = ${PATHS.small} { return 200 "${smallBody()}"; }
        location = ${PATHS.medium} { alias ${join(dir, '1m.bin')}; }
        location = ${PATHS.huge} { alias ${join(dir, '1g.bin')}; }
        location = ${PATHS.sni} { return 200 "$ssl_server_name"; }
        location = ${PATHS.proto} { return 200 "$server_protocol"; }`;
  const blocks = servers
    .map(
      (s, i) => `
    server {
        listen 127.0.0.1:${port} ssl http2${i === 0 ? ' default_server' : ''};
        server_name ${s.name};
        ssl_certificate ${s.cert};
        ssl_certificate_key ${s.key};${locations}
    }`,
    )
    .join('\n');
  return `daemon off;
master_process off;
worker_processes 1;
error_log ${join(dir, 'error.log')} warn;
pid ${join(dir, 'nginx.pid')};
events { worker_connections 4096; }
http {
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path ${join(dir, 'body')};
    proxy_temp_path ${join(dir, 'proxy')};
    fastcgi_temp_path ${join(dir, 'fastcgi')};
    uwsgi_temp_path ${join(dir, 'uwsgi')};
    scgi_temp_path ${join(dir, 'scgi')};
    keepalive_timeout 300s;
    # Also bounds the requests of one HTTP/2 connection (nginx 1.19.7+).
    keepalive_requests ${KEEPALIVE_REQUESTS};
    sendfile on;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
${blocks}
}
`;
}

async function startNginx(dir: string, pairs: Map<string, KeyPair>, defaultName: string, names: string[], caFile: string): Promise<Origin> {
  const servers: { name: string; cert: string; key: string }[] = [];
  for (const [name, pair] of pairs) {
    const cert = join(dir, `${name}.crt`);
    const key = join(dir, `${name}.key`);
    await writeFile(cert, pair.certPem);
    await writeFile(key, pair.keyPem, { mode: 0o600 });
    servers.push({ name, cert, key });
  }
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, nginxConfig(dir, port, servers));
  const child: ChildProcess = track(spawn(NGINX, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] }));
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await waitForPort(port, READY_TIMEOUT_MS, () => child.exitCode === null);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`nginx did not start: ${(err as Error).message}\n${stderr}`);
  }
  const version = await new Promise<string>((resolve) => {
    const v = spawn(NGINX, ['-v'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let out = '';
    v.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    v.once('close', () => resolve(/nginx\/([\d.]+)/.exec(out)?.[1] ?? '?'));
  });
  return {
    kind: 'nginx',
    label: `nginx ${version} (1 worker, master_process off)`,
    port,
    defaultName,
    names,
    caFile,
    pid: child.pid ?? null,
    close: () => stopChild(child),
  };
}

/**
 * Stand-in when nginx is missing: same routes, SNI-selected certificates, HTTP/2 and HTTP/1.1 by
 * ALPN (as the nginx origin), 1 GiB streamed from one zero buffer.
 */
async function startNode(pairs: Map<string, KeyPair>, defaultName: string, names: string[], caFile: string): Promise<Origin> {
  const contexts = new Map<string, tls.SecureContext>();
  for (const [name, pair] of pairs) contexts.set(name, tls.createSecureContext({ key: pair.keyPem, cert: pair.certPem }));
  const def = pairs.get(defaultName)!;
  const small = Buffer.from(smallBody());
  const medium = Buffer.alloc(MEDIUM_BYTES, 0x61);
  const block = Buffer.alloc(64 * 1024);
  const server = http2.createSecureServer(
    { key: def.keyPem, cert: def.certPem, allowHTTP1: true, SNICallback: (name, cb) => cb(null, contexts.get(name) ?? contexts.get(defaultName)!) },
    (req, res) => {
      const sni = (req.socket as tls.TLSSocket).servername;
      if (req.url === PATHS.small) return void res.writeHead(200, { 'content-length': SMALL_BYTES }).end(small);
      if (req.url === PATHS.medium) return void res.writeHead(200, { 'content-length': MEDIUM_BYTES }).end(medium);
      if (req.url === PATHS.sni) return void res.writeHead(200).end(typeof sni === 'string' ? sni : '');
      if (req.url === PATHS.proto) return void res.writeHead(200).end(`HTTP/${req.httpVersion}`);
      if (req.url === PATHS.huge) {
        res.writeHead(200, { 'content-length': HUGE_BYTES });
        let left = HUGE_BYTES;
        const pump = (): void => {
          while (left > 0) {
            left -= block.length;
            if (!res.write(block)) return void res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
      res.writeHead(404).end();
    },
  );
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    kind: 'node',
    label: `Node ${process.version} http2 secure server (HTTP/1.1 allowed) in the bench process (nginx not installed)`,
    port: (server.address() as AddressInfo).port,
    defaultName,
    names,
    caFile,
    pid: null,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Starts the origin in `dir`: a default name plus `count` fresh names, each with a certificate
 * from one test CA (written to `dir/origin-ca.pem`).
 */
export async function startOrigin(dir: string, count: number, runId: string): Promise<Origin> {
  const ca = new TestCa('mitmscope bench origin CA');
  const defaultName = `origin-${runId}.bench.test`;
  const names = Array.from({ length: count }, (_, i) => `n${String(i + 1).padStart(2, '0')}-${runId}.bench.test`);
  const pairs = new Map<string, KeyPair>();
  for (const name of [defaultName, ...names]) pairs.set(name, ca.issue([name]));
  const caFile = join(dir, 'origin-ca.pem');
  await writeFile(caFile, ca.certPem);
  await writeFiles(dir);
  if (existsSync(NGINX)) return startNginx(dir, pairs, defaultName, names, caFile);
  return startNode(pairs, defaultName, names, caFile);
}
