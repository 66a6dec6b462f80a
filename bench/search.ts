/**
 * `npm run bench:search`: search inside bodies over a session of 100,000 flows, each with a
 * gzip-encoded JSON response and a JSON request body; one response holds the marker. Prints
 * how long each kind of search takes (a bounded scan in the server: summaries, headers, and
 * bodies read from the session and decoded). Figures are printed, never asserted.
 *
 *   node --import tsx bench/search.ts [--flows 100000]
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

const { values } = parseArgs({ options: { flows: { type: 'string' } } });
const FLOWS = Number(values.flows ?? 100_000);
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
    for (const expression of [`res.body:${MARKER}`, `body:${MARKER}`, `body:/needle-[0-9a-f]{4}/`, 'header:x-request-id=req-77777', `host:host7.test res.body:${MARKER}`]) {
      const elu = performance.eventLoopUtilization();
      // How long other work (the proxy's traffic) could be kept waiting: the longest loop delay.
      const delay = monitorEventLoopDelay({ resolution: 5 });
      delay.enable();
      t0 = performance.now();
      const result = await searchFlows(store, parseFilter(expression), { maxScan: FLOWS });
      const wall = performance.now() - t0;
      delay.disable();
      const busy = performance.eventLoopUtilization(elu);
      console.log(
        `"${expression}": ${wall.toFixed(0)} ms, ${result.matched} matched of ${result.scanned.toLocaleString('en')} scanned (event loop ${(busy.utilization * 100).toFixed(0)}% busy, longest block ${(delay.max / 1e6).toFixed(0)} ms)`,
      );
    }
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
