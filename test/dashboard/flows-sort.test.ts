/**
 * Sorted and positioned windows of GET /api/flows (sort, order, offset) over a session on disk
 * (read by the reader thread) and over a memory store: walking the list by anchors in either
 * direction, jumping to a position, with a filter and its count, and the errors for bad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { FlowSummary } from '../../src/capture/flow.js';
import { FlowStore } from '../../src/capture/store.js';
import { makeFlow, request, startHarness, type Harness } from './harness.js';
import { tempSessionStore } from '../helpers/flows.js';

const FLOWS = 240;
const HOSTS = ['b.test', 'a.test', 'c.test', 'a.test', 'd.test'];
const PAGE = 37;

interface Listed {
  flows: FlowSummary[];
  more: boolean;
  total: string | undefined;
  matched: string | undefined;
}

async function list(h: Harness, query: string): Promise<Listed> {
  const res = await request(h.port, { path: `/api/flows?${query}` });
  assert.equal(res.status, 200, res.text());
  return { flows: res.json() as FlowSummary[], more: res.headers['x-more'] === '1', total: res.headers['x-total-count'] as string | undefined, matched: res.headers['x-matched-count'] as string | undefined };
}

/** A session store in a temporary folder (closed and removed after the test), or a memory store. */
async function newStore(t: TestContext, session: boolean): Promise<FlowStore> {
  return session ? tempSessionStore(t, 'mitmscope-sort-') : new FlowStore();
}

/** Fills the store with flows whose hosts, statuses and durations repeat, some failed (no status, no duration). */
async function filled(t: TestContext, session: boolean): Promise<{ h: Harness; added: FlowSummary[] }> {
  const store = await newStore(t, session);
  const h = await startHarness(t, { store });
  for (let i = 0; i < FLOWS; i++) {
    const failed = i % 11 === 0;
    const flow = makeFlow(failed ? { url: `https://x.test/${i}` } : { url: `https://x.test/${i}`, status: [200, 404, 301, 500][i % 4]! });
    flow.host = HOSTS[i % HOSTS.length]!;
    if (failed) {
      flow.state = 'error';
      flow.error = { stage: 'upstream-request', code: 'MITM_ERR_UPSTREAM_CONNECT', message: 'refused' };
    } else {
      flow.duration = (i * 37) % 50;
    }
    store.add(flow);
  }
  await store.flushed();
  const added = (await list(h, `limit=${FLOWS}`)).flows;
  assert.equal(added.length, FLOWS);
  return { h, added };
}

/** The list as the API must order it: by the key, ties in arrival order (reversed for desc). */
function sorted(flows: FlowSummary[], key: (f: FlowSummary) => string | number, order: 'asc' | 'desc'): string[] {
  const seq = new Map(flows.map((f, i) => [f.id, i]));
  const out = [...flows].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    const c = ka < kb ? -1 : ka > kb ? 1 : seq.get(a.id)! - seq.get(b.id)!;
    return order === 'asc' ? c : -c;
  });
  return out.map((f) => f.id);
}

async function walkForward(h: Harness, query: string): Promise<string[]> {
  const ids: string[] = [];
  let page = await list(h, `${query}&offset=0&limit=${PAGE}`);
  for (;;) {
    ids.push(...page.flows.map((f) => f.id));
    if (!page.more) return ids;
    page = await list(h, `${query}&after=${ids.at(-1)}&limit=${PAGE}`);
  }
}

/** The list after `first`, by anchors only. */
async function walkAfter(h: Harness, query: string, first: string): Promise<string[]> {
  const ids: string[] = [];
  let anchor = first;
  for (;;) {
    const page = await list(h, `${query}&after=${anchor}&limit=${PAGE}`);
    ids.push(...page.flows.map((f) => f.id));
    if (!page.more) return ids;
    anchor = ids.at(-1)!;
  }
}

async function walkBackward(h: Harness, query: string): Promise<string[]> {
  let ids: string[] = [];
  let page = await list(h, `${query}&limit=${PAGE}`);
  for (;;) {
    ids = page.flows.map((f) => f.id).concat(ids);
    if (!page.more) return ids;
    page = await list(h, `${query}&before=${ids[0]}&limit=${PAGE}`);
  }
}

for (const session of [true, false]) {
  const where = session ? 'a session on disk' : 'a memory store';
  test(`sorted windows walk the whole list both ways over ${where}`, async (t) => {
    const { h, added } = await filled(t, session);
    const cases: [string, (f: FlowSummary) => string | number, 'asc' | 'desc'][] = [
      ['host', (f) => f.host, 'asc'],
      ['status', (f) => f.status ?? -1, 'desc'],
      ['duration', (f) => f.duration ?? -1, 'asc'],
      ['time', (f) => f.startedAt, 'desc'],
    ];
    for (const [column, key, order] of cases) {
      const expected = sorted(added, key, order);
      const query = `sort=${column}&order=${order}`;
      assert.deepEqual(await walkForward(h, query), expected, `${query} forward`);
      assert.deepEqual(await walkBackward(h, query), expected, `${query} backward`);
      const jump = await list(h, `${query}&offset=100&limit=10`);
      assert.deepEqual(jump.flows.map((f) => f.id), expected.slice(100, 110), `${query} offset`);
      assert.equal(jump.more, true);
      assert.equal((await list(h, `${query}&offset=${FLOWS - 5}&limit=10`)).more, false);
    }
    // Arrival order by position, as the dashboard jumps in an unsorted list.
    const jump = await list(h, 'offset=200&limit=20');
    assert.deepEqual(jump.flows.map((f) => f.id), added.slice(200, 220).map((f) => f.id));
    const back = await list(h, 'order=desc&offset=10&limit=5');
    assert.deepEqual(back.flows.map((f) => f.id), added.map((f) => f.id).reverse().slice(10, 15));

    // Flows in flight are not written yet: anchored windows merge them in from memory.
    for (let i = 0; i < 3; i++) {
      const flow = makeFlow({ url: `https://x.test/in-flight-${i}` });
      flow.host = HOSTS[i]!;
      h.store.add(flow);
    }
    const now = (await list(h, `limit=${FLOWS + 3}`)).flows;
    assert.equal(now.length, FLOWS + 3);
    assert.equal(now.at(-1)!.state, 'pending');
    for (const [column, key, order] of cases) {
      const query = `sort=${column}&order=${order}`;
      const expected = sorted(now, key, order);
      assert.deepEqual(await walkBackward(h, query), expected, `${query} backward with flows in flight`);
      assert.deepEqual(await walkAfter(h, query, expected[0]!), expected.slice(1), `${query} forward with flows in flight`);
    }
  });

  test(`a sorted window of a filter, with its count, over ${where}`, async (t) => {
    const { h, added } = await filled(t, session);
    const matching = added.filter((f) => f.host.startsWith('a.') && f.status === 404);
    assert.ok(matching.length > 10);
    const filter = encodeURIComponent('host:a.test status:404');
    const expected = sorted(matching, (f) => f.duration ?? -1, 'desc');
    const first = await list(h, `filter=${filter}&sort=duration&order=desc&offset=0&limit=5&count=1`);
    assert.equal(first.matched, String(matching.length));
    assert.equal(first.total, String(FLOWS));
    assert.deepEqual(first.flows.map((f) => f.id), expected.slice(0, 5));
    assert.deepEqual(await walkForward(h, `filter=${filter}&sort=duration&order=desc`), expected);
  });
}

for (const session of [true, false]) {
  test(`body terms combine with sort, offset and the matched count over ${session ? 'a session on disk' : 'a memory store'}`, async (t) => {
    const store = await newStore(t, session);
    const h = await startHarness(t, { store });
    for (let i = 0; i < 90; i++) {
      const flow = makeFlow({ url: `https://x.test/${i}`, status: 200, responseBody: Buffer.from(i % 3 === 0 ? `a ripe banana ${i}` : `an apple ${i}`) });
      flow.host = HOSTS[i % HOSTS.length]!;
      flow.duration = (i * 37) % 50;
      store.add(flow);
    }
    await store.flushed();
    const all = (await list(h, 'limit=90')).flows;
    const bodies = new Map(all.map((f, i) => [f.id, i % 3 === 0]));
    const matching = all.filter((f) => bodies.get(f.id) && f.host !== 'a.test');
    assert.ok(matching.length > 10);
    const filter = encodeURIComponent('res.body:banana -host:a.test');
    const expected = sorted(matching, (f) => f.duration ?? -1, 'desc');
    const first = await list(h, `filter=${filter}&sort=duration&order=desc&offset=0&limit=5&count=1`);
    assert.equal(first.matched, String(matching.length));
    assert.deepEqual(first.flows.map((f) => f.id), expected.slice(0, 5));
    assert.deepEqual(await walkForward(h, `filter=${filter}&sort=duration&order=desc`), expected);
    assert.deepEqual(await walkBackward(h, `filter=${filter}&sort=duration&order=desc`), expected);
    const jump = await list(h, `filter=${filter}&sort=duration&order=desc&offset=6&limit=4`);
    assert.deepEqual(jump.flows.map((f) => f.id), expected.slice(6, 10));
    // Arrival order, filtered by the body term as before.
    assert.deepEqual((await list(h, `filter=${filter}&limit=100`)).flows.map((f) => f.id), matching.map((f) => f.id));
  });
}

test('GET /api/flows refuses an unknown sort column, order or a bad offset with a code', async (t) => {
  const h = await startHarness(t);
  for (const query of ['sort=url', 'sort=host&order=up', 'offset=-3', 'sort=host&sort=status']) {
    const res = await request(h.port, { path: `/api/flows?${query}` });
    assert.equal(res.status, 400, query);
    assert.equal((res.json() as { code: string }).code, 'MITM_ERR_API_BAD_INPUT', query);
  }
});
