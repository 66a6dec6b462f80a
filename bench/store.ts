/**
 * `npm run bench:store`: the session store on its own, through its own API.
 *   1. Where bodies go: SQLite blobs (one row per run of bytes, in the store's write transaction)
 *      against append-only segment files (one positional writev per flush, off the event loop) —
 *      the event-loop time each costs per MiB, which is what the proxy cannot spend on traffic.
 *   2. A session of 1,000,000 small flows: RSS after writing them, the first list page, a filter
 *      over all of them, and a HAR export of 100,000 flows (RSS before and after).
 *   3. The sort indexes the store does not keep: event-loop and CPU time per written flow and
 *      session size with all six (added before the first row) and without (as the store writes),
 *      rounds alternating; and the first sorted windows through the reader thread with and without.
 * Figures are printed, never asserted.
 *
 *   node dist/bench/store.js [--flows 1000000] [--export 100000] [--sort-flows 200000] [--only sort]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { createFlow, emptyRequest, type Flow } from '../src/capture/flow.js';
import { BodyCapture, RUN_BYTES } from '../src/capture/body-capture.js';
import { exportHar } from '../src/har/export.js';
import { SORT_COLUMNS, sortIndexSql } from '../src/capture/session/window-sql.js';
import { FlowStore, storeFilter } from '../src/capture/store.js';
import { parseFilter } from '../src/filter/parse.js';

const MIB = 1024 * 1024;
const { values } = parseArgs({ options: { flows: { type: 'string' }, export: { type: 'string' }, 'sort-flows': { type: 'string' }, only: { type: 'string' } } });
const FLOWS = Number(values.flows ?? 1_000_000);
const EXPORT = Number(values.export ?? 100_000);
const SORT_FLOWS = Number(values['sort-flows'] ?? 200_000);
/** Flows added between waits for the store's writes (as traffic would arrive). */
const BATCH = 2000;

function rssMiB(): number {
  return process.memoryUsage().rss / MIB;
}

function ms(t0: number): number {
  return performance.now() - t0;
}

function smallFlow(i: number): Flow {
  const f = createFlow({ kind: 'http', scheme: 'https', host: `host${i % 50}.test`, port: 443, request: emptyRequest(i % 7 === 0 ? 'POST' : 'GET', `https://host${i % 50}.test/api/items/${i}?q=${i % 13}`), clientConnection: null });
  f.request.headers = [['Host', `host${i % 50}.test`], ['User-Agent', 'bench/1.0'], ['Accept', '*/*']];
  f.state = 'complete';
  f.duration = 3.2;
  f.response = { status: i % 20 === 0 ? 404 : 200, statusText: 'OK', httpVersion: '1.1', headers: [['Content-Type', 'application/json'], ['Content-Length', '17']], bodySize: 17, bodyTruncated: false, body: Buffer.from(`{"item":${i % 1000}}`.padEnd(17)), trailers: [] };
  return f;
}

/** Event-loop milliseconds (busy time, from eventLoopUtilization) to store `mib` MiB of bodies in 64 KiB runs, each way. */
async function bodiesBench(dir: string, mib: number): Promise<{ segmentsMs: number; blobsMs: number; segmentsWallMs: number; blobsWallMs: number }> {
  const run = randomBytes(RUN_BYTES);
  const perFlow = MIB / RUN_BYTES;

  const store = new FlowStore({ session: join(dir, 'segments') });
  let elu = performance.eventLoopUtilization();
  let t0 = performance.now();
  for (let b = 0; b < mib; b++) {
    const f = createFlow({ kind: 'http', scheme: 'https', host: 'h', port: 443, request: emptyRequest('GET', 'https://h/'), clientConnection: null });
    f.response = { status: 200, statusText: 'OK', httpVersion: '1.1', headers: [], bodySize: 0, bodyTruncated: false, body: Buffer.alloc(0), trailers: [] };
    store.add(f);
    const c = new BodyCapture(f.response, Infinity, store.bodySink(f, 'response'));
    for (let i = 0; i < perFlow; i++) c.push(run);
    c.finish();
    f.state = 'complete';
    store.update(f);
    await store.flushed();
  }
  const segmentsWallMs = ms(t0);
  const segmentsMs = performance.eventLoopUtilization(elu).active;
  await store.close();

  const db = new Database(join(dir, 'blobs.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE chunks (flow INTEGER, idx INTEGER, data BLOB, PRIMARY KEY (flow, idx)) WITHOUT ROWID');
  const insert = db.prepare('INSERT INTO chunks VALUES (?, ?, ?)');
  elu = performance.eventLoopUtilization();
  t0 = performance.now();
  for (let b = 0; b < mib; b++) {
    db.transaction(() => {
      for (let i = 0; i < perFlow; i++) insert.run(b, i, run);
    })();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const blobsWallMs = ms(t0);
  const blobsMs = performance.eventLoopUtilization(elu).active;
  db.close();
  return { segmentsMs, blobsMs, segmentsWallMs, blobsWallMs };
}

interface SortRound {
  indexes: boolean;
  /** Event-loop microseconds per flow written (adding, summarizing, the batched writes). */
  busyPer1000: number;
  /** Process CPU microseconds per flow written: less sensitive than the above to other load on the machine. */
  cpuPerFlow: number;
  wallMs: number;
  sessionMiB: number;
}

/** Writes `flows` flows into a new session with or without the sort indexes. */
async function sortRound(dir: string, flows: number, indexes: boolean): Promise<{ round: SortRound; store: FlowStore; path: string }> {
  const path = join(dir, `sort-${indexes ? 'with' : 'without'}-${Math.random().toString(36).slice(2)}`);
  const store = new FlowStore({ session: path });
  if (indexes) {
    // The store keeps none; a second connection adds them before the first row (SQLite re-prepares the store's statements).
    const raw = new Database(join(path, 'session.db'));
    for (const sort of SORT_COLUMNS) raw.exec(sortIndexSql(sort));
    raw.close();
  }
  globalThis.gc?.();
  const elu = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < flows; i++) {
    store.add(smallFlow(i));
    if (i % BATCH === BATCH - 1) await store.flushed();
  }
  await store.flushed();
  const busy = performance.eventLoopUtilization(elu).active;
  const used = process.cpuUsage(cpu);
  return { round: { indexes, busyPer1000: (busy / flows) * 1000, cpuPerFlow: (used.user + used.system) / flows, wallMs: ms(t0), sessionMiB: store.bytes / MIB }, store, path };
}

async function sortIndexBench(dir: string, flows: number): Promise<void> {
  console.log(`\n## Sort indexes over ${flows.toLocaleString('en')} small flows (rounds alternate)`);
  const rounds: SortRound[] = [];
  for (const indexes of [true, false, false, true, true, false]) {
    const { round, store, path } = await sortRound(dir, flows, indexes);
    rounds.push(round);
    console.log(
      `${indexes ? 'with indexes   ' : 'without indexes'}: ${round.busyPer1000.toFixed(1)} µs of event loop and ${round.cpuPerFlow.toFixed(1)} µs of CPU per flow written, wall ${(round.wallMs / 1000).toFixed(1)} s, session ${round.sessionMiB.toFixed(0)} MiB`,
    );
    if (rounds.length <= 2) {
      for (const sort of ['host', 'status', 'duration', 'time'] as const) {
        const elu = performance.eventLoopUtilization();
        const t0 = performance.now();
        const page = await store.sortedPage({ filter: null, sort, order: 'desc', limit: 400, offset: null });
        console.log(`  first sorted window by ${sort} (400 flows, reader thread, ${indexes ? 'indexed' : 'no index'}): ${ms(t0).toFixed(0)} ms, event loop busy ${performance.eventLoopUtilization(elu).active.toFixed(1)} ms (${page.flows.length} flows)`);
      }
      const t0 = performance.now();
      const jump = await store.sortedPage({ filter: null, sort: 'host', order: 'asc', limit: 400, offset: Math.floor(flows / 2) });
      console.log(`  a jump to the middle sorted by host: ${ms(t0).toFixed(0)} ms (${jump.flows.length} flows)`);
    }
    await store.close();
    rmSync(path, { recursive: true, force: true });
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const withIdx = rounds.filter((r) => r.indexes);
  const without = rounds.filter((r) => !r.indexes);
  console.log(
    `mean: with ${mean(withIdx.map((r) => r.busyPer1000)).toFixed(1)} µs event loop, ${mean(withIdx.map((r) => r.cpuPerFlow)).toFixed(1)} µs CPU per flow, ${mean(withIdx.map((r) => r.sessionMiB)).toFixed(0)} MiB; without ${mean(without.map((r) => r.busyPer1000)).toFixed(1)} µs event loop, ${mean(without.map((r) => r.cpuPerFlow)).toFixed(1)} µs CPU per flow, ${mean(without.map((r) => r.sessionMiB)).toFixed(0)} MiB`,
  );
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mitmscope-bench-store-'));
  try {
    if (values.only === 'sort') return await sortIndexBench(dir, SORT_FLOWS);
    const bodies = await bodiesBench(dir, 256);
    console.log('## Bodies: SQLite blobs vs segment files (256 MiB in 64 KiB runs)');
    console.log(`segment files: ${(bodies.segmentsMs / 256).toFixed(2)} ms of event loop per MiB (wall ${(bodies.segmentsWallMs / 1000).toFixed(2)} s)`);
    console.log(`SQLite blobs:  ${(bodies.blobsMs / 256).toFixed(2)} ms of event loop per MiB (wall ${(bodies.blobsWallMs / 1000).toFixed(2)} s)`);

    const rss0 = rssMiB();
    const store = new FlowStore({ session: join(dir, 'million') });
    let t0 = performance.now();
    for (let i = 0; i < FLOWS; i++) {
      store.add(smallFlow(i));
      if (i % BATCH === BATCH - 1) await store.flushed();
    }
    await store.flushed();
    const writeMs = ms(t0);
    globalThis.gc?.();
    console.log(`\n## ${FLOWS.toLocaleString('en')} small flows through the store's API`);
    console.log(`written in ${(writeMs / 1000).toFixed(1)} s (${Math.round(FLOWS / (writeMs / 1000)).toLocaleString('en')} flows/s); RSS ${rssMiB().toFixed(0)} MiB (${rss0.toFixed(0)} MiB before); session ${(store.bytes / MIB).toFixed(0)} MiB on disk`);

    t0 = performance.now();
    const first = store.page({ limit: 1000 });
    console.log(`first list page (newest 1,000): ${ms(t0).toFixed(1)} ms (${first.flows.length} flows of ${first.total})`);
    t0 = performance.now();
    const middle = store.page({ limit: 1000, before: first.flows[0]!.id });
    console.log(`the page before it: ${ms(t0).toFixed(1)} ms (${middle.flows.length} flows)`);
    const expression = 'host:host10 status:404';
    const filter = storeFilter(parseFilter(expression));
    t0 = performance.now();
    const filtered = store.page({ limit: 1000, filter });
    console.log(`filter "${expression}", first page: ${ms(t0).toFixed(1)} ms (${filtered.flows.length} flows)`);
    t0 = performance.now();
    const counted = store.page({ limit: 1000, filter, count: true });
    console.log(`the same with the matched count over all flows: ${ms(t0).toFixed(0)} ms (${counted.matched} matched), all of it on the event loop`);
    const elu = performance.eventLoopUtilization();
    t0 = performance.now();
    const viaReader = await store.query({ limit: 1000, filter, count: true });
    const busy = performance.eventLoopUtilization(elu).active;
    console.log(`through the reader thread (what the API does): ${ms(t0).toFixed(0)} ms (${viaReader.matched} matched), event loop busy ${busy.toFixed(0)} ms of it`);

    globalThis.gc?.();
    const before = rssMiB();
    let peak = before;
    const sink = new Writable({
      write(_chunk, _enc, cb) {
        peak = Math.max(peak, rssMiB());
        cb();
      },
    });
    const exportStore = new FlowStore({ session: join(dir, 'export') });
    for (let i = 0; i < EXPORT; i++) {
      exportStore.add(smallFlow(i));
      if (i % BATCH === BATCH - 1) await exportStore.flushed();
    }
    await exportStore.flushed();
    globalThis.gc?.();
    const exportBefore = rssMiB();
    peak = exportBefore;
    t0 = performance.now();
    const n = await exportHar(exportStore, sink);
    console.log(`\n## HAR export of ${n.toLocaleString('en')} flows (streamed from disk)`);
    console.log(`${(ms(t0) / 1000).toFixed(1)} s; RSS ${exportBefore.toFixed(0)} MiB before, peak ${peak.toFixed(0)} MiB during (delta ${(peak - exportBefore).toFixed(0)} MiB)`);
    await exportStore.close();
    await store.close();
    await sortIndexBench(dir, SORT_FLOWS);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
