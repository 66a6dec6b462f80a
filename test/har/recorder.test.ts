import { test, describe, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlowStore } from '../../src/capture/store.js';
import { isMitmError } from '../../src/errors.js';
import { flowsToHar, harToFlows } from '../../src/har/mapping.js';
import { HarRecorder } from '../../src/har/recorder.js';
import type { Har } from '../../src/har/types.js';
import { getJson, postJson, redirect, seeded, tlsFailure, upstreamFailure } from './fixtures/flows.js';
import { readKilledRecording } from './fixtures/killed.js';
import { assertValidHar } from './fixtures/validate.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./fixtures/record-child.ts', import.meta.url));
/** The lead's promptness requirement: anything done this long before a kill is on disk. */
const GRACE_MS = 200;
/** Kill moments after the child is ready: late enough to have entries, early enough for < 3 s runs. */
const KILL_MIN_MS = 250;
const KILL_SPREAD_MS = 1000;

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mitmscope-har-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function readHar(path: string): Promise<Har> {
  return JSON.parse(await readFile(path, 'utf8')) as Har;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => isMitmError(err) && err.code === code);
}

/** Adds a pending flow, then completes it the way src/proxy does. */
function complete(store: FlowStore, make: () => ReturnType<typeof getJson>): ReturnType<typeof getJson> {
  const flow = make();
  const response = flow.response;
  const state = flow.state;
  flow.response = null;
  flow.state = 'pending';
  store.add(flow);
  flow.response = response;
  flow.state = state;
  store.update(flow);
  return flow;
}

describe('the HAR recorder', () => {
  test('creates a valid, empty HAR before the first flow', async (t) => {
    const path = join(await tempDir(t), 'new.har');
    const recorder = await HarRecorder.open(path, { append: false, store: new FlowStore() });
    const har = await readHar(path);
    assert.deepEqual(har.log.entries, []);
    assert.equal(har.log.creator.name, 'mitmscope');
    await assertValidHar(har);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    await recorder.close();
    assert.equal(recorder.path, path);
  });

  test('refuses to overwrite an existing file without append', async (t) => {
    const path = join(await tempDir(t), 'old.har');
    await writeFile(path, 'precious');
    await rejectsWith(HarRecorder.open(path, { append: false, store: new FlowStore() }), 'MITM_ERR_HAR_EXISTS');
    assert.equal(await readFile(path, 'utf8'), 'precious');
  });

  test('reports a file it cannot create as MITM_ERR_HAR_IO', async (t) => {
    const path = join(await tempDir(t), 'missing-dir', 'x.har');
    await rejectsWith(HarRecorder.open(path, { append: false, store: new FlowStore() }), 'MITM_ERR_HAR_IO');
  });

  test('writes a flow when it completes, not while it is pending', async (t) => {
    const path = join(await tempDir(t), 'rec.har');
    const store = new FlowStore();
    const recorder = await HarRecorder.open(path, { append: false, store });
    const flow = getJson();
    const response = flow.response;
    flow.response = null;
    flow.state = 'pending';
    store.add(flow);
    await sleep(20);
    assert.equal((await readHar(path)).log.entries.length, 0);
    flow.response = response;
    flow.state = 'complete';
    store.update(flow);
    store.update(flow); // a second announcement must not write it twice
    while (recorder.entries < 1) await sleep(1);
    const har = await readHar(path);
    assert.equal(har.log.entries.length, 1);
    assert.equal(har.log.entries[0]!.request.url, flow.request.url);
    await recorder.close();
    assert.equal((await readHar(path)).log.entries.length, 1);
  });

  test('records flows added already finished, and skips imported ones', async (t) => {
    const path = join(await tempDir(t), 'rec.har');
    const store = new FlowStore();
    const recorder = await HarRecorder.open(path, { append: false, store });
    store.add(tlsFailure());
    for (const f of harToFlows(flowsToHar([redirect()]))) store.add(f);
    await recorder.close();
    const har = await readHar(path);
    assert.deepEqual(
      har.log.entries.map((e) => e._kind ?? 'http'),
      ['tls-failure'],
    );
  });

  test('close() writes every flow that completed before it was called', async (t) => {
    const path = join(await tempDir(t), 'rec.har');
    const store = new FlowStore();
    const recorder = await HarRecorder.open(path, { append: false, store });
    const flows = Array.from({ length: 300 }, (_, i) => complete(store, i % 3 === 0 ? upstreamFailure : i % 3 === 1 ? postJson : getJson));
    await recorder.close();
    await recorder.close();
    const har = await readHar(path);
    assert.equal(har.log.entries.length, flows.length);
    assert.equal(recorder.entries, flows.length);
    await assertValidHar(har);
    // Entries are in completion order.
    assert.deepEqual(
      har.log.entries.map((e) => e.request.url),
      flows.map((f) => f.request.url),
    );
  });

  test('append keeps the entries already there and adds new ones', async (t) => {
    const path = join(await tempDir(t), 'rec.har');
    const store = new FlowStore();
    const first = await HarRecorder.open(path, { append: false, store });
    complete(store, getJson);
    complete(store, redirect);
    await first.close();
    const again = await HarRecorder.open(path, { append: true, store });
    assert.equal(again.entries, 2);
    complete(store, postJson);
    await again.close();
    const har = await readHar(path);
    assert.deepEqual(
      har.log.entries.map((e) => e.request.method + ' ' + e.request.url),
      ['GET https://api.example.com/v1/items?page=2&q=hello%20world&tag=a&tag=b', 'GET http://example.com/old', 'POST https://api.example.com/graphql'],
    );
    assert.equal(again.entries, 3);
    await assertValidHar(har);
  });

  test('append works on a HAR written by someone else, pretty-printed with fields after entries', async (t) => {
    const path = join(await tempDir(t), 'chrome.har');
    const har = flowsToHar([getJson()]);
    const foreign = { log: { version: '1.2', creator: { name: 'WebInspector', version: '537.36' }, entries: har.log.entries, pages: [], comment: 'from devtools' } };
    await writeFile(path, JSON.stringify(foreign, null, 2) + '\n');
    const store = new FlowStore();
    const recorder = await HarRecorder.open(path, { append: true, store });
    complete(store, redirect);
    await recorder.close();
    const after = await readHar(path);
    assert.equal(after.log.entries.length, 2);
    assert.equal(after.log.creator.name, 'WebInspector');
    assert.equal(after.log.comment, 'from devtools');
    await assertValidHar(after);
  });

  test('append refuses a file that is not a valid HAR and leaves it alone', async (t) => {
    const path = join(await tempDir(t), 'broken.har');
    await writeFile(path, '{"log": {"entries": [');
    await rejectsWith(HarRecorder.open(path, { append: true, store: new FlowStore() }), 'MITM_ERR_HAR_INVALID');
    assert.equal(await readFile(path, 'utf8'), '{"log": {"entries": [');
  });

  test('append to a file that does not exist yet creates it', async (t) => {
    const path = join(await tempDir(t), 'fresh.har');
    const recorder = await HarRecorder.open(path, { append: true, store: new FlowStore() });
    await recorder.close();
    assert.deepEqual((await readHar(path)).log.entries, []);
  });

  describe('survives kill -9 at a random moment', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      test(`seed ${seed}: the file parses, or is cut at a page boundary and mended, and holds every flow done ${GRACE_MS} ms before the kill`, async (t) => {
        const path = join(await tempDir(t), 'killed.har');
        const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path, String(seed)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
        t.after(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        });
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        const done: { id: string; at: number }[] = [];
        const closed = once(child, 'close');
        const ready = new Promise<void>((resolve, reject) => {
          createInterface({ input: child.stdout }).on('line', (line) => {
            if (line === 'ready') resolve();
            const m = /^done (\S+) (\d+)$/.exec(line);
            if (m) done.push({ id: m[1]!, at: Number(m[2]) });
          });
          child.once('exit', (code, signal) => reject(new Error(`child exited (${code ?? signal}) before it was ready: ${stderr}`)));
        });
        await ready;
        await sleep(KILL_MIN_MS + seeded(seed)() * KILL_SPREAD_MS);
        const killedAt = Date.now();
        child.kill('SIGKILL');
        await closed;

        const { har, bytes, mend } = await readKilledRecording(path);
        await assertValidHar(har);
        const recorded = new Set(har.log.entries.map((e) => new URL(e.request.url).searchParams.get('flow')));
        const due = done.filter((d) => d.at < killedAt - GRACE_MS);
        assert.ok(due.length > 0, 'the child completed flows before the kill');
        assert.deepEqual(
          due.filter((d) => !recorded.has(d.id)),
          [],
        );
        const lastDone = done.at(-1)?.at ?? killedAt;
        const torn = mend ? `, cut at a page boundary inside a write and mended (${mend.droppedBytes} bytes dropped)` : '';
        t.diagnostic(`${done.length} done, ${har.log.entries.length} in the file (${bytes} bytes${torn}), last done ${killedAt - lastDone} ms before the kill`);
      });
    }
  });
});
