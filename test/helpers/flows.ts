import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Flow } from '../../src/capture/flow.js';
import { FlowStore } from '../../src/capture/store.js';

/** A session store in a new temporary folder, closed and removed after the test. */
export async function tempSessionStore(t: TestContext, prefix: string): Promise<FlowStore> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const store = new FlowStore({ session: join(dir, 's') });
  t.after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return store;
}

/** Resolves with the first stored flow matching `pick`, waiting on store events (never sleeping). */
export function flowWhere(proxy: { store: FlowStore }, pick: (f: Flow) => boolean): Promise<Flow> {
  return new Promise((resolve) => {
    const found = proxy.store.list().find(pick);
    if (found) return resolve(found);
    const stop = proxy.store.subscribe(() => {
      const f = proxy.store.list().find(pick);
      if (f) {
        stop();
        resolve(f);
      }
    });
  });
}
