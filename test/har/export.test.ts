import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { FlowStore } from '../../src/capture/store.js';
import { createFlow, emptyRequest } from '../../src/capture/flow.js';
import { exportHar } from '../../src/har/export.js';

test('a slow reader pauses the export without piling up listeners on it', async () => {
  const store = new FlowStore();
  for (let i = 0; i < 300; i++) {
    const f = createFlow({ kind: 'http', scheme: 'https', host: 'h.test', port: 443, request: emptyRequest('GET', `https://h.test/${i}`), clientConnection: null });
    f.state = 'complete';
    f.response = { status: 200, statusText: 'OK', httpVersion: '1.1', headers: [], bodySize: 0, bodyTruncated: false, body: Buffer.alloc(0), trailers: [] };
    store.add(f);
  }
  let text = '';
  let most = 0;
  // Room for one small write at a time, freed a turn later: the export waits for 'drain' per entry.
  const out = new Writable({
    highWaterMark: 16,
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      most = Math.max(most, out.listenerCount('close') + out.listenerCount('drain') + out.listenerCount('error'));
      setImmediate(done);
    },
  });
  const baseline = out.listenerCount('close') + out.listenerCount('drain') + out.listenerCount('error');
  const n = await exportHar(store, out);
  assert.equal(n, 300);
  assert.equal((JSON.parse(text) as { log: { entries: unknown[] } }).log.entries.length, 300);
  // Waiting for room adds a 'drain', a 'close' and their 'error' listeners at most, and removes them.
  assert.ok(most - baseline <= 4, `listeners on the reader grew to ${most} (baseline ${baseline})`);
  assert.equal(out.listenerCount('close') + out.listenerCount('drain') + out.listenerCount('error'), baseline);
  await store.close();
});
