/**
 * Real servers and clients for integration tests: Node HTTP(S) servers, `openssl s_server`,
 * an in-process mitmscope, and curl. Everything listens on 127.0.0.1 port 0 and is closed by
 * the cleanup the caller registers at once.
 */
import http from 'node:http';
import https from 'node:https';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import { DEFAULTS, type Config } from '../../src/config.js';
import { start, type Running } from '../../src/app.js';
import type { KeyPair } from './pki.js';

export interface Listening {
  port: number;
  close(): Promise<void>;
}

function closeServer(server: http.Server, sockets: Set<Socket>): Promise<void> {
  return new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });
}

function listen(server: http.Server): Promise<Listening> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({ port: (server.address() as AddressInfo).port, close: () => closeServer(server, sockets) });
    });
  });
}

export function startHttpServer(handler: http.RequestListener): Promise<Listening> {
  return listen(http.createServer(handler));
}

export function startHttpsServer(pair: KeyPair, handler: http.RequestListener, options: https.ServerOptions = {}): Promise<Listening> {
  return listen(https.createServer({ key: pair.keyPem, cert: pair.certPem, ...options }, handler));
}

export async function tempDir(prefix = 'mitmscope-test-'): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Runs `openssl s_server` on an ephemeral port; resolves once it prints its ACCEPT line. */
export async function startOpensslServer(pair: KeyPair, args: string[]): Promise<Listening & { output: () => string }> {
  const dir = await tempDir('mitmscope-ossl-');
  await writeFile(join(dir.path, 'cert.pem'), pair.certPem);
  await writeFile(join(dir.path, 'key.pem'), pair.keyPem);
  const child = spawn('openssl', ['s_server', '-accept', '127.0.0.1:0', '-cert', join(dir.path, 'cert.pem'), '-key', join(dir.path, 'key.pem'), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /ACCEPT .*:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`openssl s_server exited (${code}): ${out}`)));
  });
  return {
    port,
    output: () => out,
    close: async () => {
      await stopChild(child);
      await dir.remove();
    },
  };
}

export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

export interface TestProxy extends Running {
  caDir: string;
  cleanup(): Promise<void>;
}

/** An in-process mitmscope on an ephemeral port with a fresh CA in a temporary folder. */
export async function startProxy(overrides: Partial<Config> = {}): Promise<TestProxy> {
  const dir = await tempDir('mitmscope-ca-');
  // Every in-process proxy stores its capture in a real session folder, removed with the CA.
  const config: Config = { ...DEFAULTS, port: 0, ui: false, caDir: dir.path, session: join(dir.path, 'session'), ...overrides };
  const running = await start(config);
  return Object.assign(running, {
    caDir: dir.path,
    cleanup: async () => {
      await running.close();
      await dir.remove();
    },
  });
}

/** `startProxy` that trusts `caPem` for its upstreams; the PEM lives in a folder removed with the proxy. */
export async function startProxyTrusting(caPem: string, overrides: Partial<Config> = {}): Promise<TestProxy> {
  const dir = await tempDir('mitmscope-upstream-ca-');
  try {
    const file = join(dir.path, 'upstream-ca.pem');
    await writeFile(file, caPem);
    const proxy = await startProxy({ upstreamCa: [file], ...overrides });
    const cleanup = proxy.cleanup;
    proxy.cleanup = async () => {
      await cleanup();
      await dir.remove();
    };
    return proxy;
  } catch (err) {
    await dir.remove();
    throw err;
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, with stdin closed unless `input` is given. */
export function run(cmd: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env, ...(options.cwd ? { cwd: options.cwd } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** curl through the proxy, trusting only the proxy's CA. Prints the status on the last line. */
export function curl(proxy: TestProxy, url: string, extra: string[] = []): Promise<RunResult> {
  return run('curl', ['-sS', '--proxy', proxy.proxyUrl, '--cacert', join(proxy.caDir, 'ca.pem'), '-w', '\n%{http_code}', '--max-time', '20', ...extra, url]);
}

/** Splits curl's `-w '\n%{http_code}'` output into body and status. */
export function curlStatus(result: RunResult): { body: string; status: number } {
  const i = result.stdout.lastIndexOf('\n');
  return { body: result.stdout.slice(0, i), status: Number(result.stdout.slice(i + 1)) };
}
