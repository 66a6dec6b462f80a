/**
 * A real mitmscope (proxy and dashboard on port 0) in front of a real Node HTTPS upstream that
 * records what reached it, plus an API client with the token. Cleanup registers on the test.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TestContext } from 'node:test';
import type { Config } from '../../src/config.js';
import { TestCa } from '../helpers/pki.js';
import { startHttpServer, startHttpsServer, startProxy, tempDir, type Listening, type TestProxy } from '../helpers/servers.js';

export const TOKEN = 'rules-test-token-0123456789';

export interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface Upstreams {
  https: Listening;
  http: Listening;
  seen: Seen[];
  /** Resolves when the upstream has seen `n` requests in all. */
  seenCount(n: number): Promise<void>;
}

const ca = new TestCa();
/** A certificate for localhost from the CA the rules proxy trusts upstream (for other test servers). */
export const pair = ca.issue(['localhost', '127.0.0.1']);

/** Answers `echo <method> <url> <body>` as text/plain, or what `/status/NNN` asks for. */
function echo(seen: Seen[], waiters: Set<() => void>) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      for (const w of [...waiters]) w();
      const status = /^\/status\/(\d{3})/.exec(req.url ?? '')?.[1];
      res.writeHead(status ? Number(status) : 200, { 'content-type': 'text/plain', 'x-upstream': 'yes' });
      res.end(`echo ${req.method} ${req.url} ${body}`);
    });
  };
}

export async function startUpstreams(t: TestContext): Promise<Upstreams> {
  const seen: Seen[] = [];
  const waiters = new Set<() => void>();
  const https = await startHttpsServer(pair, echo(seen, waiters));
  const http = await startHttpServer(echo(seen, waiters));
  t.after(() => Promise.all([https.close(), http.close()]));
  return {
    https,
    http,
    seen,
    seenCount: (n) =>
      new Promise((resolve) => {
        if (seen.length >= n) return resolve();
        const check = (): void => {
          if (seen.length < n) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      }),
  };
}

export interface Api {
  (method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }>;
}

export interface RulesProxy {
  proxy: TestProxy;
  api: Api;
}

/** A proxy that trusts the test CA, with its dashboard on port 0. */
export async function startRulesProxy(t: TestContext, overrides: Partial<Config> = {}): Promise<RulesProxy> {
  const dir = await tempDir('mitmscope-rules-');
  t.after(() => dir.remove());
  const caFile = join(dir.path, 'test-ca.pem');
  await writeFile(caFile, ca.certPem);
  const proxy = await startProxy({ upstreamCa: [caFile], ui: true, uiPort: 0, token: TOKEN, ...overrides });
  t.after(() => proxy.cleanup());
  return { proxy, api: apiClient(proxy.dashboardUrl!) };
}

export function apiClient(base: string): Api {
  return async (method, path, body) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as unknown) : null };
  };
}
