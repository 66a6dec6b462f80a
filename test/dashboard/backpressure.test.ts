/**
 * A websocket client that never reads while 20,000 flows are added and completed must not make
 * the dashboard's memory grow with the traffic. Three runs of the same workload in this process:
 * no client (control), a stalled client with the default limits, and a stalled client with the
 * limits switched off (what happens without backpressure), which shows the workload is big
 * enough for the bound to mean something.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlowStore } from '../../src/capture/store.js';
import { startDashboard } from '../../src/dashboard/server.js';
import type { LiveOptions } from '../../src/dashboard/live.js';
import { makeFlow, TOKEN } from './harness.js';
import { drain, rawUpgrade, replay, type RawClient } from './raw-ws.js';

const FLOWS = 20_000;
/** Realistic-to-long URLs: each summary serialises to ~900 bytes, ~36 MB of events in all. */
const URL_PAD = 'q'.repeat(500);
/**
 * Growth allowed over the control run: 1 MiB soft limit + one 500-event batch + 4 MiB of
 * coalesced summaries + a snapshot, with room for GC noise.
 */
const MAX_EXTRA_GROWTH_BYTES = 16 * 1024 * 1024;
/** Time for the last batches and coalescing ticks to run after the workload. */
const SETTLE_MS = 500;
const CHUNK = 250;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function memory(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  // Buffers queued on a socket live outside the JS heap, in arrayBuffers.
  return m.heapUsed + m.arrayBuffers;
}

async function workload(store: FlowStore): Promise<void> {
  for (let i = 0; i < FLOWS; i += CHUNK) {
    const chunk = Array.from({ length: CHUNK }, (_, j) => makeFlow({ url: `https://load.test/${i + j}?${URL_PAD}` }));
    for (const f of chunk) store.add(f);
    for (const f of chunk) {
      f.state = 'complete';
      f.duration = 3;
      f.response = makeFlow({ status: 200 }).response;
      store.update(f);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  await sleep(SETTLE_MS);
}

interface Run {
  growth: number;
  client: RawClient | null;
  store: FlowStore;
  close(): Promise<void>;
}

async function run(client: 'none' | 'stalled', live: Partial<LiveOptions> = {}): Promise<Run> {
  const store = new FlowStore();
  const dash = await startDashboard({
    store,
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    uiHosts: [],
    caFiles: { pem: '/nonexistent', cer: '/nonexistent', p12: '/nonexistent' },
    uiDir: '/nonexistent',
    live,
  });
  const raw = client === 'stalled' ? await rawUpgrade(dash.port, `/api/live?token=${TOKEN}`, {}) : null;
  await sleep(50);
  const before = memory();
  await workload(store);
  const growth = memory() - before;
  return {
    growth,
    client: raw,
    store,
    async close() {
      raw?.socket.destroy();
      await dash.close();
    },
  };
}

const MiB = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

test(`a websocket client that never reads while ${FLOWS} flows are added and completed costs less than ${MiB(MAX_EXTRA_GROWTH_BYTES)} of memory`, async (t) => {
  const control = await run('none');
  t.after(() => control.close());
  await control.close();

  const unbounded = await run('stalled', { softLimitBytes: Infinity, hardLimitBytes: Infinity });
  t.after(() => unbounded.close());
  await unbounded.close();

  const bounded = await run('stalled');
  t.after(() => bounded.close());

  t.diagnostic(`control (no client): ${MiB(control.growth)}; stalled client: ${MiB(bounded.growth)}; stalled client without limits: ${MiB(unbounded.growth)}`);
  assert.ok(bounded.growth - control.growth < MAX_EXTRA_GROWTH_BYTES, `stalled client cost ${MiB(bounded.growth - control.growth)}`);
  assert.ok(unbounded.growth - control.growth > MAX_EXTRA_GROWTH_BYTES, `without limits the same workload cost only ${MiB(unbounded.growth - control.growth)}: the test is too small to mean anything`);

  // Once it reads again the client is told it was coalesced (or resynchronised) and catches up.
  const got = await drain(bounded.client!, 1000);
  const caughtUp = got.messages.some((m) => (m.type === 'batch' && m.coalesced) || (m.type === 'snapshot' && m.resync));
  assert.ok(caughtUp || got.ended, 'the client was coalesced, resynchronised or closed');
  if (!got.ended) {
    // A resync snapshot holds the newest flows up to its byte budget; older ones are fetched by page.
    const state = replay(got.messages);
    const newest = bounded.store.newest(1000);
    for (const f of newest) assert.equal(state.get(f.id)?.state, 'complete');
    assert.ok([...state.values()].every((f) => f.state === 'complete'), 'every flow the client knows is complete');
  }
  t.diagnostic(`after draining: ${got.messages.length} messages, ${MiB(got.bytes)} read (the events amounted to ~${MiB(FLOWS * 2 * 900)})`);
});
