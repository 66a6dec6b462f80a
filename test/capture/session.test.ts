/**
 * The session store through the real proxy: whole bodies byte for byte, a kill -9 and a restart
 * with the same --session, eviction by --store-size, and a disk that fills up mid-run.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ProxyAgent, request } from 'undici';
import { TestCa } from '../helpers/pki.js';
import { seeded } from '../helpers/random.js';
import { startCli } from '../helpers/cli.js';
import { curl, curlStatus, startHttpsServer, startProxy, stopChild, tempDir, type Listening } from '../helpers/servers.js';

const BIG = 150;
const SMALL = 10_000;
const MIB = 1024 * 1024;

/** 1 MiB of seeded random bytes: the server and the test derive the same body from the index. */
function bigBody(i: number): Buffer {
  const random = seeded(1000 + i);
  const out = Buffer.allocUnsafe(MIB);
  for (let j = 0; j < MIB; j += 4) out.writeUInt32LE(Math.floor(random() * 0x1_0000_0000), j);
  return out;
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

interface Dashboard {
  base: string;
  token: string;
}

async function api<T>(d: Dashboard, path: string): Promise<{ body: T; headers: Record<string, string | string[] | undefined> }> {
  const r = await request(`${d.base}${path}`, { headers: { authorization: `Bearer ${d.token}` } });
  assert.equal(r.statusCode, 200, `${path}: ${r.statusCode}`);
  return { body: (await r.body.json()) as T, headers: r.headers };
}

async function bodyOf(d: Dashboard, id: string): Promise<Buffer> {
  const r = await request(`${d.base}/api/flows/${id}/response/body`, { headers: { authorization: `Bearer ${d.token}` } });
  assert.equal(r.statusCode, 200);
  return Buffer.from(await r.body.arrayBuffer());
}

interface Summary {
  id: string;
  url: string;
  state: string;
}

async function allFlows(d: Dashboard): Promise<Summary[]> {
  const out: Summary[] = [];
  let before: string | null = null;
  for (;;) {
    const q: string = `/api/flows?limit=5000${before ? `&before=${before}` : ''}`;
    const page = await api<Summary[]>(d, q);
    out.unshift(...page.body);
    if (page.headers['x-more'] !== '1' || page.body.length === 0) break;
    before = page.body[0]!.id;
  }
  return out;
}

/** Polls /api/status until the proxy says nothing is left unsaved (the store writes per tick). */
async function saved(d: Dashboard): Promise<void> {
  for (;;) {
    const { body } = await api<{ unsaved: { flows: number; bytes: number } }>(d, '/api/status');
    if (body.unsaved.flows === 0 && body.unsaved.bytes === 0) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('sessions through the real proxy', () => {
  const ca = new TestCa();
  let files: { path: string; remove(): Promise<void> };
  let origin: Listening;
  let caFile: string;

  before(async () => {
    files = await tempDir();
    caFile = join(files.path, 'test-ca.pem');
    await writeFile(caFile, ca.certPem);
    origin = await startHttpsServer(ca.issue(['localhost', '127.0.0.1']), (req, res) => {
      const big = /^\/big\/(\d+)$/.exec(req.url ?? '');
      if (big) {
        res.setHeader('content-type', 'application/octet-stream');
        res.end(bigBody(Number(big[1])));
      } else res.end(`small ${req.url}`);
    });
  });
  after(async () => {
    await origin.close();
    await files.remove();
  });

  test('150 whole 1 MiB bodies and 10,000 keep-alive exchanges survive kill -9 and a restart, bodies and both TLS ladders included', async (t) => {
    const session = join(files.path, 'kill-session');
    const args = ['--port', '0', '--ui-port', '0', '--token', 'test-token', '--ca-dir', join(files.path, 'ca'), '--upstream-ca', caFile, '--session', session];
    const first = await startCli(args);
    t.after(() => stopChild(first.child));
    const dash: Dashboard = { base: new URL(first.lines['dashboard']!).origin, token: 'test-token' };
    const dispatcher = new ProxyAgent({ uri: `http://127.0.0.1:${first.port}`, requestTls: { ca: readFileSync(join(files.path, 'ca', 'ca.pem')) }, connections: 16 });
    t.after(() => dispatcher.close());
    const target = `https://localhost:${origin.port}`;
    await pool(
      Array.from({ length: BIG }, (_, i) => i),
      4,
      async (i) => {
        const r = await request(`${target}/big/${i}`, { dispatcher });
        assert.equal(r.statusCode, 200);
        await r.body.arrayBuffer();
      },
    );
    await pool(
      Array.from({ length: SMALL }, (_, i) => i),
      16,
      async (i) => {
        const r = await request(`${target}/small/${i}`, { dispatcher });
        assert.equal(await r.body.text(), `small /small/${i}`);
      },
    );
    await saved(dash);

    const expected = new Map(Array.from({ length: BIG }, (_, i) => [`${target}/big/${i}`, sha(bigBody(i))]));
    async function check(d: Dashboard): Promise<void> {
      const flows = await allFlows(d);
      const urls = new Set(flows.map((f) => f.url));
      for (let i = 0; i < SMALL; i++) assert.ok(urls.has(`${target}/small/${i}`), `small ${i} listed`);
      const big = flows.filter((f) => expected.has(f.url));
      assert.equal(big.length, BIG);
      for (const f of big) assert.equal(sha(await bodyOf(d, f.id)), expected.get(f.url), `${f.url} byte-identical`);
      const detail = await api<{ tls: { client: { events: { type: string }[] } | null; server: { events: { type: string }[] } | null } }>(d, `/api/flows/${big[0]!.id}`);
      for (const leg of ['client', 'server'] as const) {
        const types = detail.body.tls[leg]?.events.map((e) => e.type) ?? [];
        assert.ok(types.includes('ClientHello') && types.includes('ServerHello'), `${leg} ladder: ${types.join(',')}`);
      }
    }
    await check(dash);

    first.child.kill('SIGKILL');
    await first.exited;
    const second = await startCli(args);
    t.after(() => stopChild(second.child));
    await check({ base: new URL(second.lines['dashboard']!).origin, token: 'test-token' });
  });

  test('the key log of each flow is the same after kill -9 and a restart as before', async (t) => {
    const session = join(files.path, 'keylog-session');
    const args = ['--port', '0', '--ui-port', '0', '--token', 'test-token', '--ca-dir', join(files.path, 'ca'), '--upstream-ca', caFile, '--session', session];
    const first = await startCli(args);
    t.after(() => stopChild(first.child));
    const dash: Dashboard = { base: new URL(first.lines['dashboard']!).origin, token: 'test-token' };
    const target = `https://localhost:${origin.port}`;
    // One connection per request: each flow has handshakes (and key log lines) of its own.
    for (const path of ['/small/k1', '/small/k2', '/small/k3']) {
      const dispatcher = new ProxyAgent({ uri: `http://127.0.0.1:${first.port}`, requestTls: { ca: readFileSync(join(files.path, 'ca', 'ca.pem')) } });
      const r = await request(`${target}${path}`, { dispatcher });
      assert.equal(await r.body.text(), `small ${path}`);
      await dispatcher.close();
    }
    await saved(dash);
    const keylog = async (d: Dashboard, id: string): Promise<{ status: number; text: string }> => {
      const r = await request(`${d.base}/api/flows/${id}/keylog`, { headers: { authorization: `Bearer ${d.token}` } });
      return { status: r.statusCode, text: await r.body.text() };
    };
    const flows = (await allFlows(dash)).filter((f) => f.url.startsWith(`${target}/small/k`));
    assert.equal(flows.length, 3);
    const before = new Map<string, string>();
    for (const f of flows) {
      const k = await keylog(dash, f.id);
      assert.equal(k.status, 200, k.text);
      const lines = k.text.trim().split('\n');
      // Both legs (the client's handshake with the proxy, the proxy's with the origin), in NSS format.
      assert.ok(lines.length >= 2, k.text);
      for (const line of lines) assert.match(line, /^[A-Z0-9_]+ [0-9a-f]{64} [0-9a-f]+$/);
      assert.equal(new Set(lines.map((l) => l.split(' ')[1])).size >= 2, true, 'two client randoms: one per leg');
      before.set(f.id, k.text);
    }
    assert.equal(new Set(before.values()).size, 3, 'each flow has its own secrets');

    first.child.kill('SIGKILL');
    await first.exited;
    const second = await startCli(args);
    t.after(() => stopChild(second.child));
    const again: Dashboard = { base: new URL(second.lines['dashboard']!).origin, token: 'test-token' };
    for (const [id, text] of before) assert.deepEqual(await keylog(again, id), { status: 200, text });
  });

  test('--store-size keeps the session under its bound by evicting the oldest flows', async (t) => {
    const bound = 12 * MIB;
    const session = join(files.path, 'bounded-session');
    const proxy = await startProxy({ upstreamCa: [caFile], storeSize: bound, session });
    t.after(() => proxy.cleanup());
    const dispatcher = new ProxyAgent({ uri: proxy.proxyUrl, requestTls: { ca: readFileSync(join(proxy.caDir, 'ca.pem')) } });
    t.after(() => dispatcher.close());
    for (let i = 0; i < 40; i++) {
      const r = await request(`https://localhost:${origin.port}/big/${i}`, { dispatcher });
      await r.body.arrayBuffer();
      await proxy.store.flushed();
    }
    const used = await du(session);
    assert.ok(used <= bound, `${used} bytes on disk within the ${bound}-byte bound`);
    assert.ok(proxy.store.size < 40, 'older flows were evicted');
    const newest = proxy.store.newest(1)[0]!;
    assert.equal(sha(await proxy.store.readBody(newest.id, 'response')), sha(bigBody(39)));
  });

  const mountable = spawnSync('mount', ['--version']).status === 0 && process.getuid?.() === 0;
  test('a disk that fills up pauses capture with a visible status while proxying goes on, and capture resumes', { skip: mountable ? false : 'needs root and mount (util-linux) for a small tmpfs' }, async (t) => {
    const mnt = join(files.path, 'tmpfs');
    await mkdir(mnt);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt]);
    if (mounted.status !== 0) {
      t.skip(`mounting a tmpfs is not permitted here: ${mounted.stderr.toString().trim()}`);
      return;
    }
    t.after(() => void spawnSync('umount', ['-l', mnt]));
    const proxy = await startProxy({ upstreamCa: [caFile], session: join(mnt, 's'), ui: true, uiPort: 0, token: 'tok' });
    t.after(() => proxy.cleanup());
    const d: Dashboard = { base: proxy.dashboardUrl!, token: 'tok' };
    const dispatcher = new ProxyAgent({ uri: proxy.proxyUrl, requestTls: { ca: readFileSync(join(proxy.caDir, 'ca.pem')) } });
    t.after(() => dispatcher.close());
    for (let i = 0; i < 6 && proxy.store.status.state === 'recording'; i++) {
      const r = await request(`https://localhost:${origin.port}/big/${i}`, { dispatcher });
      assert.equal(r.statusCode, 200, 'exchanges are served while the disk fills');
      await r.body.arrayBuffer();
      await proxy.store.flushed();
    }
    const paused = await api<{ capture: { state: string; reason: string } }>(d, '/api/status');
    assert.equal(paused.body.capture.state, 'paused');
    assert.match(paused.body.capture.reason, /disk is full/);
    const sentinel = await curl(proxy, `https://localhost:${origin.port}/sentinel`);
    assert.equal(curlStatus(sentinel).body, 'small /sentinel', 'a request is served while capture is paused');
    // Space returns: the retry finds it and capture goes on.
    assert.equal(spawnSync('mount', ['-o', 'remount,size=64m', mnt]).status, 0);
    await new Promise<void>((resolve) => {
      const stop = proxy.store.subscribe((e) => {
        if (e.type === 'capture' && e.status.state === 'recording') {
          stop();
          resolve();
        }
      });
      if (proxy.store.status.state === 'recording') resolve();
    });
    const again = await curl(proxy, `https://localhost:${origin.port}/after`);
    assert.equal(curlStatus(again).body, 'small /after');
    await proxy.store.flushed();
    assert.ok(proxy.store.newest(5).some((f) => f.url.endsWith('/after')), 'capture resumed');
  });
});

async function du(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    total += entry.isDirectory() ? await du(p) : (await stat(p)).size;
  }
  return total;
}
