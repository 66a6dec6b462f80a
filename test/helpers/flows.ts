import type { Flow } from '../../src/capture/flow.js';
import type { FlowStore } from '../../src/capture/store.js';

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
