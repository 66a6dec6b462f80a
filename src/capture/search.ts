/**
 * Search inside flows: the filter language's body and header terms run over the session. The
 * summary terms pick candidates, then each candidate's headers and (only when needed) its
 * bodies, decoded as the body view shows them, are tested. The scan is bounded: it streams the
 * session in arrival order, stops after `maxScan` flows and says whether it saw them all.
 */
import { performance } from 'node:perf_hooks';
import { compileFilter } from '../filter/match.js';
import { bodiesRead, compileDeep, type DeepSubject } from '../filter/deep.js';
import type { ParsedFilter } from '../filter/parse.js';
import { decodeContent } from './decode.js';
import { summarize, type CapturedMessage, type Flow } from './flow.js';
import type { BodyPart, FlowStore } from './store.js';

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

/** Body text as the user sees it: decoded from its Content-Encoding, then read as UTF-8. */
async function bodyText(store: FlowStore, flow: Flow, part: BodyPart, message: CapturedMessage): Promise<string> {
  if (message.bodySize === 0) return '';
  const raw = await store.readBody(flow.id, part, MAX_SEARCHED_BODY_BYTES);
  const decoded = await decodeContent(message, raw, MAX_SEARCHED_BODY_BYTES);
  return decoded.bytes.toString('utf8');
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
  for (const flow of store.iterate()) {
    if (scanned >= maxScan) {
      complete = false;
      break;
    }
    scanned += 1;
    if (!compiled.test(summarize(flow))) continue;
    // Bodies are read before the synchronous test, only for the sides the terms look at.
    const request = reads.request ? await bodyText(store, flow, 'request', flow.request) : '';
    const response = reads.response && flow.response ? await bodyText(store, flow, 'response', flow.response) : null;
    const subject: DeepSubject = {
      requestHeaders: flow.request.headers,
      responseHeaders: flow.response?.headers ?? null,
      requestBody: () => request,
      responseBody: () => response,
    };
    if (!deep(subject)) continue;
    matched += 1;
    if (ids.length < maxIds) ids.push(flow.id);
  }
  return { ids, matched, scanned, complete, elapsedMs: Math.round((performance.now() - started) * 10) / 10 };
}
