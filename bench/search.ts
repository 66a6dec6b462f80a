/**
 * `npm run bench:search`: search inside bodies over a session of 100,000 flows, each with a
 * gzip-encoded JSON response and a JSON request body; one response holds the marker. Prints
 * how long each kind of search takes (a bounded scan in the server: summaries, headers, and
 * bodies read from the session and decoded), how busy the event loop was meanwhile and its
 * longest block — what the proxy's traffic would have waited. A second session of `--large`
 * flows with 1 MiB (decoded) gzip text responses shows the same for large bodies.
 * Figures are printed, never asserted.
 *
 *   node --import tsx bench/search.ts [--flows 100000] [--large 300]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { createFlow, emptyRequest, type Flow } from '../src/capture/flow.js';
import { FlowStore } from '../src/capture/store.js';
import { searchFlows } from '../src/capture/search.js';
import { parseFilter } from '../src/filter/parse.js';

const { values } = parseArgs({ options: { flows: { type: 'string' }, large: { type: 'string' } } });
const FLOWS = Number(values.flows ?? 100_000);
const LARGE = Number(values.large ?? 300);
/** Flows added between waits for the store's writes (as traffic would arrive). */
const BATCH = 2000;
const MARKER = 'needle-5e1f';

function flow(i: number): Flow {
  const f = createFlow({ kind: 'http', scheme: 'https', host: `host${i % 50}.test`, port: 443, request: emptyRequest('POST', `https://host${i % 50}.test/api/items/${i}`), clientConnection: null });
  const req = Buffer.from(JSON.stringify({ query: `item ${i}`, page: i % 13 }));
  f.request.headers = [['Host', `host${i % 50}.test`], ['Content-Type', 'application/json'], ['X-Request-Id', `req-${i}`]];
  f.request.body = req;
  f.request.bodySize = req.length;
  const json = JSON.stringify({ id: i, name: `item number ${i}`, tags: ['a', 'b', 'c'], note: i === Math.floor(FLOWS / 2) ? MARKER : 'lorem ipsum dolor sit amet' });
  const body = gzipSync(json);
  f.state = 'complete';
  f.duration = 3.2;
  f.response = { status: 200, statusText: 'OK', httpVersion: '1.1', headers: [['Content-Type', 'application/json'], ['Content-Encoding', 'gzip']], bodySize: body.length, bodyTruncated: false, body, trailers: [] };
  return f;
}

/** About 1 MiB of log-like text, gzip-encoded; only one flow holds the marker. */
function largeFlow(i: number): Flow {
  const f = flow(i);
  const lines: string[] = [];
  for (let n = 0; lines.length < 14_000; n++) lines.push(`${i}-${n} INFO request served in ${(n * 7) % 97} ms by worker ${n % 16} path=/api/items/${n}`);
  if (i === Math.floor(LARGE / 2)) lines.push(MARKER);
  const body = gzipSync(lines.join('\n'));
  f.response!.body = body;
  f.response!.bodySize = body.length;
  f.response!.headers = [['Content-Type', 'text/plain'], ['Content-Encoding', 'gzip']];
  return f;
}

async function measure(store: FlowStore, expression: string, maxScan: number): Promise<void> {
  const elu = performance.eventLoopUtilization();
  // How long other work (the proxy's traffic) could be kept waiting: the longest loop delay.
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const t0 = performance.now();
  const result = await searchFlows(store, parseFilter(expression), { maxScan });
  const wall = performance.now() - t0;
  delay.disable();
  const busy = performance.eventLoopUtilization(elu);
  console.log(
    `"${expression}": ${wall.toFixed(0)} ms, ${result.matched} matched of ${result.scanned.toLocaleString('en')} scanned (event loop ${(busy.utilization * 100).toFixed(0)}% busy, longest block ${(delay.max / 1e6).toFixed(0)} ms)`,
  );
}

/** The machine's own noise: the longest loop delay while the process does nothing. */
async function idleControl(ms: number): Promise<void> {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  await new Promise((resolve) => setTimeout(resolve, ms));
  delay.disable();
  console.log(`(control: ${ms} ms idle, longest block ${(delay.max / 1e6).toFixed(0)} ms)`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mitmscope-bench-search-'));
  try {
    const store = new FlowStore({ session: join(dir, 'session') });
    let t0 = performance.now();
    for (let i = 0; i < FLOWS; i++) {
      store.add(flow(i));
      if (i % BATCH === BATCH - 1) await store.flushed();
    }
    await store.flushed();
    console.log(`## Search inside ${FLOWS.toLocaleString('en')} flows (gzip JSON responses, JSON request bodies)`);
    console.log(`session written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // A session's first search may start its search thread: not part of any figure below.
    await searchFlows(store, parseFilter('header:x-warm-up'), { maxScan: 1 });
    await idleControl(2000);
    for (const expression of [`res.body:${MARKER}`, `body:${MARKER}`, `body:/needle-[0-9a-f]{4}/`, 'header:x-request-id=req-77777', `host:host7.test res.body:${MARKER}`]) {
      await measure(store, expression, FLOWS);
    }
    await store.close();

    const large = new FlowStore({ session: join(dir, 'large') });
    t0 = performance.now();
    for (let i = 0; i < LARGE; i++) {
      large.add(largeFlow(i));
      if (i % 20 === 19) await large.flushed();
    }
    await large.flushed();
    console.log(`\n## Search inside ${LARGE} flows with 1 MiB (decoded) gzip text responses`);
    console.log(`session written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await searchFlows(large, parseFilter('header:x-warm-up'), { maxScan: 1 });
    for (const expression of [`res.body:${MARKER}`, 'res.body:/worker.1[0-5].path=.api.items.99999/']) await measure(large, expression, LARGE);
    await large.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
