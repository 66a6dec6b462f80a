/**
 * The proxies under test, each a child process started the way a user starts it: mitmscope from
 * the build (capture and handshake observation on, as by default), optionally with its dashboard,
 * and Debian's mitmdump when installed. Each resolves once its proxy port accepts connections.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { freePort, waitForPort } from './upstream.js';
import { stopChild, track } from './procs.js';
import type { PeerName, PeerSpec } from './peers.js';

const MITMDUMP = '/usr/bin/mitmdump';
/** mitmscope makes its CA on first start, mitmdump too (in Python): generous. */
const START_TIMEOUT_MS = 30_000;

export interface ProxyProcess {
  label: string;
  port: number;
  pid: number;
  /** Dashboard base URL and token when started with the dashboard. */
  dashboardUrl: string | null;
  token: string | null;
  output(): string;
  close(): Promise<void>;
}

export function mitmscopeCli(): string {
  return fileURLToPath(new URL('../src/cli.js', import.meta.url));
}

export interface MitmscopeOptions {
  caDir: string;
  upstreamCa: string;
  /** Starts the dashboard on a free port with this token; null = --no-ui. */
  dashboardToken: string | null;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
  /** Another build's cli.js (experiments on a patched copy of dist/); default: this build's. */
  cli?: string;
  /** Extra mitmscope flags, e.g. --no-tls-tap. */
  flags?: string[];
}

/** Whether this build's CLI has a flag (read from its --help). */
export function mitmscopeHasFlag(flag: string): boolean {
  const help = spawnSync(process.execPath, [mitmscopeCli(), '--help'], { encoding: 'utf8' });
  return help.stdout.includes(flag);
}

export async function startMitmscope(options: MitmscopeOptions): Promise<ProxyProcess> {
  const args = [...(options.nodeArgs ?? []), options.cli ?? mitmscopeCli(), '--port', '0', '--ca-dir', options.caDir, '--upstream-ca', options.upstreamCa];
  // A fresh session per run, in the run's temporary folder (the default would be under the working directory).
  if (!(options.flags ?? []).includes('--session')) args.push('--session', join(options.caDir, `session-${process.hrtime.bigint()}`));
  args.push(...(options.flags ?? []));
  if (options.dashboardToken === null) args.push('--no-ui');
  else args.push('--ui-port', '0', '--token', options.dashboardToken);
  return startAnnouncing('mitmscope', args);
}

/** Starts a Node child that prints `proxy http://HOST:PORT` (and a dashboard line) then `ready`. */
async function startAnnouncing(label: string, args: string[]): Promise<ProxyProcess> {
  const child = track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} did not print "ready" within ${START_TIMEOUT_MS} ms:\n${out}`)), START_TIMEOUT_MS);
    const check = (): void => {
      if (/^ready$/m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited (${code}) before ready:\n${out}`));
    });
  });
  const port = Number(/^proxy\s+http:\/\/[^\s]+:(\d+)\s*$/m.exec(out)?.[1]);
  if (!port) throw new Error(`no proxy line in ${label}'s output:\n${out}`);
  const dash = /^dashboard\s+(http:\/\/[^\s/]+)\/\?token=(\S+)\s*$/m.exec(out);
  return {
    label,
    port,
    pid: child.pid!,
    dashboardUrl: dash?.[1] ?? null,
    token: dash?.[2] ?? null,
    output: () => out,
    close: () => stopChild(child, 5000),
  };
}

/** A peer proxy from bench/peers.ts (mockttp, http-mitm-proxy) as its own process. */
export function startPeer(name: PeerName, spec: PeerSpec): Promise<ProxyProcess> {
  return startAnnouncing(name, [fileURLToPath(new URL('./peers.js', import.meta.url)), name, JSON.stringify(spec)]);
}

export function hasMitmdump(): boolean {
  return existsSync(MITMDUMP);
}

export async function mitmdumpVersion(): Promise<string> {
  return new Promise((resolve) => {
    const v = spawn(MITMDUMP, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    v.stdout.on('data', (d: Buffer) => (out += d.toString()));
    v.once('close', () => resolve(/Mitmproxy:\s*(\S+)/.exec(out)?.[1] ?? '?'));
  });
}

/**
 * `--set` options: the origin is verified against its CA, as mitmscope does with --upstream-ca;
 * bodies over 1 MiB are streamed (mitmproxy buffers whole bodies by default, which would hold the
 * 1 GiB download in memory — mitmscope streams and keeps a 1 MiB copy).
 */
export function mitmdumpSets(confdir: string, upstreamCa: string): string[] {
  return ['confdir=' + confdir, 'ssl_verify_upstream_trusted_ca=' + upstreamCa, 'stream_large_bodies=1m'];
}

export async function startMitmdump(confdir: string, upstreamCa: string): Promise<ProxyProcess> {
  const port = await freePort();
  const args = ['--listen-host', '127.0.0.1', '-p', String(port), '-q'];
  for (const s of mitmdumpSets(confdir, upstreamCa)) args.push('--set', s);
  const child: ChildProcess = track(spawn(MITMDUMP, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await waitForPort(port, START_TIMEOUT_MS, () => child.exitCode === null);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`mitmdump did not start: ${(err as Error).message}\n${out}`);
  }
  return {
    label: 'mitmdump',
    port,
    pid: child.pid!,
    dashboardUrl: null,
    token: null,
    output: () => out,
    close: () => stopChild(child, 5000),
  };
}
