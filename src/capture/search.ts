/**
 * Search inside flows: the filter language's body and header terms run over the session. The
 * summary terms pick candidates, then each candidate's headers and (only when needed) its
 * bodies, decoded as the body view shows them, are tested. The scan is bounded: it streams the
 * session in arrival order, stops after `maxScan` flows and says whether it saw them all.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate } from 'node:timers/promises';
import { compileFilter } from '../filter/match.js';
import { bodiesRead, compileDeep, type DeepSubject } from '../filter/deep.js';
import type { ParsedFilter } from '../filter/parse.js';
import { decodeContent } from './decode.js';
import { contentCoding, decodeBody } from '../har/body.js';
import { summarize, type CapturedMessage } from './flow.js';
import type { BodyPart, FlowStore, StoredFlow } from './store.js';

/** A body longer than this is searched in its first bytes only: a search must not read gigabytes. */
export const MAX_SEARCHED_BODY_BYTES = 8 * 1024 * 1024;
/** Flows a search looks at by default; the answer says when the session holds more. */
export const DEFAULT_MAX_SCAN = 100_000;
/** Ids a search returns at most (the count covers every match). */
export const DEFAULT_MAX_IDS = 10_000;

export interface SearchOptions {
  maxScan?: number;
  maxIds?: number;
}

export interface SearchResult {
  /** Matching flow ids in arrival order, at most `maxIds`. */
  ids: string[];
  matched: number;
  scanned: number;
  /** True when every flow of the session was looked at. */
  complete: boolean;
  elapsedMs: number;
}

/** Candidates whose bodies are read at once: the reads overlap instead of waiting in turn. */
const READ_AHEAD = 64;
/**
 * Flows scanned between yields to the event loop (~10 ms of work): the proxy shares the loop,
 * and a search that finds few candidates would otherwise never await.
 */
const YIELD_EVERY = 500;

/** Body text as the user sees it: decoded from its Content-Encoding, then read as UTF-8. */
async function bodyText(store: FlowStore, stored: StoredFlow, part: BodyPart, message: CapturedMessage): Promise<string> {
  if (message.bodySize === 0) return '';
  const raw = await store.readStored(stored, part, MAX_SEARCHED_BODY_BYTES);
  const coding = contentCoding(message.headers);
  if (coding === null) return raw.toString('utf8');
  // Whole small bodies decode fastest in one synchronous call; a truncated or corrupt one is
  // decoded as far as its bytes go by the streaming decoder the body view uses.
  const whole = message.bodyTruncated ? null : decodeBody(raw, coding);
  return (whole ?? (await decodeContent(message, raw, MAX_SEARCHED_BODY_BYTES)).bytes).toString('utf8');
}

export async function searchFlows(store: FlowStore, parsed: ParsedFilter, options: SearchOptions = {}): Promise<SearchResult> {
  const started = performance.now();
  const maxScan = options.maxScan ?? DEFAULT_MAX_SCAN;
  const maxIds = options.maxIds ?? DEFAULT_MAX_IDS;
  const compiled = compileFilter(parsed);
  const deep = compileDeep(compiled.deep);
  const reads = bodiesRead(compiled.deep);
  const ids: string[] = [];
  let matched = 0;
  let scanned = 0;
  let complete = true;

  const test = async (candidates: StoredFlow[]): Promise<void> => {
    // Bodies are read before the synchronous test, only for the sides the terms look at.
    const subjects = await Promise.all(
      candidates.map(async (stored): Promise<DeepSubject> => {
        const { flow } = stored;
        const request = reads.request ? await bodyText(store, stored, 'request', flow.request) : '';
        const response = reads.response && flow.response ? await bodyText(store, stored, 'response', flow.response) : null;
        return { requestHeaders: flow.request.headers, responseHeaders: flow.response?.headers ?? null, requestBody: () => request, responseBody: () => response };
      }),
    );
    subjects.forEach((subject, i) => {
      if (!deep(subject)) return;
      matched += 1;
      if (ids.length < maxIds) ids.push(candidates[i]!.flow.id);
    });
  };

  let pending: StoredFlow[] = [];
  for (const stored of store.iterateBodies()) {
    if (scanned >= maxScan) {
      complete = false;
      break;
    }
    scanned += 1;
    if (scanned % YIELD_EVERY === 0) await setImmediate();
    if (!compiled.test(summarize(stored.flow))) continue;
    pending.push(stored);
    if (pending.length >= READ_AHEAD) {
      await test(pending);
      pending = [];
    }
  }
  await test(pending);
  return { ids, matched, scanned, complete, elapsedMs: Math.round((performance.now() - started) * 10) / 10 };
}
