/**
 * Body and header terms in the list filter: the page cannot see bodies, so it asks the server
 * (`GET api/search`) which flows match, and the list's predicate also requires a flow to be
 * among them. One search per filter text; a new text cancels the previous one.
 */
import { signal } from '@preact/signals';

export type DeepSearch =
  | { source: string; state: 'searching' }
  | { source: string; state: 'done'; ids: ReadonlySet<string>; matched: number; scanned: number; complete: boolean }
  | { source: string; state: 'failed'; message: string };

export const deepSearch = signal<DeepSearch | null>(null);

let controller: AbortController | null = null;
/** Called when a search finished, so the list re-applies its filter. */
let onResults: (() => void) | null = null;

export function onDeepResults(listener: () => void): void {
  onResults = listener;
}

const NONE: ReadonlySet<string> = new Set();

/** The flows the server found for `source`: empty while it searches (nothing is shown as a match yet). */
export function deepMatches(source: string): ReadonlySet<string> {
  const current = deepSearch.peek();
  if (current?.source !== source) {
    start(source);
    return NONE;
  }
  return current.state === 'done' ? current.ids : NONE;
}

/** No body or header term in the filter any more. */
export function clearDeepSearch(): void {
  controller?.abort();
  controller = null;
  if (deepSearch.peek() !== null) deepSearch.value = null;
}

function start(source: string): void {
  controller?.abort();
  const own = new AbortController();
  controller = own;
  deepSearch.value = { source, state: 'searching' };
  fetch(`api/search?filter=${encodeURIComponent(source)}`, { credentials: 'same-origin', signal: own.signal })
    .then(async (res) => {
      const body = (await res.json()) as { ids?: string[]; matched?: number; scanned?: number; complete?: boolean; error?: string };
      if (!res.ok || !Array.isArray(body.ids)) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
      return { ids: new Set(body.ids), matched: body.matched ?? body.ids.length, scanned: body.scanned ?? 0, complete: body.complete ?? true };
    })
    .then(
      (r) => {
        if (controller !== own) return;
        deepSearch.value = { source, state: 'done', ...r };
        onResults?.();
      },
      (err: unknown) => {
        if (controller !== own || (err instanceof DOMException && err.name === 'AbortError')) return;
        deepSearch.value = { source, state: 'failed', message: err instanceof Error ? err.message : String(err) };
      },
    );
}
