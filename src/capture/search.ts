/**
 * Search inside flows: the filter language's body and header terms run over the session. The
 * summary terms pick candidates, then each candidate's headers and (only when needed) its
 * bodies, decoded as the body view shows them, are tested. The scan is bounded: it walks the
 * session in arrival order, stops after `maxScan` flows and says whether it saw them all.
 *
 * A session on disk is scanned by its own worker thread (`session/search-scan.ts`, bodies read
 * from the segment files there); the event loop only tests the flows still in memory and merges.
 * A store without a folder is scanned here, yielding to the event loop as it goes.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate } from 'node:timers/promises';
import { compileFilter } from '../filter/match.js';
import { bodiesRead, compileDeep, type DeepSubject } from '../filter/deep.js';
import type { ParsedFilter } from '../filter/parse.js';
import { decodeContent } from './decode.js';
import { contentCoding, decodeBody } from '../har/body.js';
import { summarize, type CapturedMessage, type FlowSummary, type Header } from './flow.js';
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

/** What a search needs of one flow: its summary, its messages' heads and a way to read its bodies. */
export interface SearchCandidate {
  request: Pick<CapturedMessage, 'headers' | 'bodySize' | 'bodyTruncated'>;
  response: Pick<CapturedMessage, 'headers' | 'bodySize' | 'bodyTruncated'> | null;
  /** At most `limit` bytes of a stored body. */
  read(part: BodyPart, limit: number): Promise<Buffer>;
}

/** Candidates whose bodies are read at once: the reads overlap instead of waiting in turn. */
export const READ_AHEAD = 64;
/**
 * Flows scanned between yields to the event loop (~10 ms of work): the proxy shares the loop,
 * and a search that finds few candidates would otherwise never await.
 */
const YIELD_EVERY = 500;

/** Body text as the user sees it: decoded from its Content-Encoding, then read as UTF-8. */
async function bodyText(candidate: SearchCandidate, part: BodyPart, message: SearchCandidate['request']): Promise<string> {
  if (message.bodySize === 0) return '';
  const raw = await candidate.read(part, MAX_SEARCHED_BODY_BYTES);
  const coding = contentCoding(message.headers);
  if (coding === null) return raw.toString('utf8');
  // Whole small bodies decode fastest in one synchronous call; a truncated or corrupt one is
  // decoded as far as its bytes go by the streaming decoder the body view uses.
  const whole = message.bodyTruncated ? null : decodeBody(raw, coding);
  return (whole ?? (await decodeContent({ ...message, body: raw } as CapturedMessage, raw, MAX_SEARCHED_BODY_BYTES)).bytes).toString('utf8');
}

/** A parsed filter as the two steps of a search: the summary test, then the deep test on candidates. */
export interface SearchMatcher {
  summary(s: FlowSummary): boolean;
  /** Which of `candidates` the body and header terms accept, in order. */
  test(candidates: readonly SearchCandidate[]): Promise<boolean[]>;
}

export function searchMatcher(parsed: ParsedFilter): SearchMatcher {
  const compiled = compileFilter(parsed);
  const deep = compileDeep(compiled.deep);
  const reads = bodiesRead(compiled.deep);
  return {
    summary: (s) => compiled.test(s),
    async test(candidates) {
      // Bodies are read before the synchronous test, only for the sides the terms look at.
      const subjects = await Promise.all(
        candidates.map(async (c): Promise<DeepSubject> => {
          const request = reads.request ? await bodyText(c, 'request', c.request) : '';
          const response = reads.response && c.response ? await bodyText(c, 'response', c.response) : null;
          return { requestHeaders: c.request.headers as readonly Header[], responseHeaders: c.response?.headers ?? null, requestBody: () => request, responseBody: () => response };
        }),
      );
      return subjects.map((s) => deep(s));
    },
  };
}

/** A flow of the store as a candidate, its bodies read through the store. */
export function storedCandidate(store: FlowStore, stored: StoredFlow): SearchCandidate {
  return { request: stored.flow.request, response: stored.flow.response, read: (part, limit) => store.readStored(stored, part, limit) };
}

export async function searchFlows(store: FlowStore, parsed: ParsedFilter, options: SearchOptions = {}): Promise<SearchResult> {
  const started = performance.now();
  const maxScan = options.maxScan ?? DEFAULT_MAX_SCAN;
  const maxIds = options.maxIds ?? DEFAULT_MAX_IDS;
  const offThread = await store.searchSession(parsed, maxScan, maxIds);
  const elapsedMs = (): number => Math.round((performance.now() - started) * 10) / 10;
  if (offThread) return { ...offThread, elapsedMs: elapsedMs() };

  const matcher = searchMatcher(parsed);
  const ids: string[] = [];
  let matched = 0;
  let scanned = 0;
  let complete = true;
  const test = async (candidates: StoredFlow[]): Promise<void> => {
    const verdicts = await matcher.test(candidates.map((c) => storedCandidate(store, c)));
    verdicts.forEach((ok, i) => {
      if (!ok) return;
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
    if (!matcher.summary(summarize(stored.flow))) continue;
    pending.push(stored);
    if (pending.length >= READ_AHEAD) {
      await test(pending);
      pending = [];
    }
  }
  await test(pending);
  return { ids, matched, scanned, complete, elapsedMs: elapsedMs() };
}
