/**
 * An HTTP/2 stream that rules act on: the request is held whole and goes through the same
 * request hold as an HTTP/1.1 exchange (delays, mocks, drops, rewrites, HAR answers, the request
 * breakpoint); what it sends on is rebuilt as HTTP/2 pairs and relayed, with the response held
 * too when a response-phase rule may match. Other streams on the connection are not held.
 */
import http2 from 'node:http2';
import type { Header } from '../../capture/flow.js';
import type { FlowStore } from '../../capture/store.js';
import { MitmError } from '../../errors.js';
import { collectBody, holdRequest, MAX_HELD_BODY_BYTES, type HoldContext, type RuleHooks } from '../../rules/hold.js';
import type { RequestPlan } from '../../rules/plan.js';
import { movedTarget } from '../../rules/target.js';
import { errorCodeName } from './frames.js';
import { concludeH2, noteForbidden } from './held.js';
import { draftToH2Request } from './translate.js';
import type { H2Exchange } from './exchange.js';

const { NGHTTP2_NO_ERROR } = http2.constants;

/** A request the holds let through: its body, and the context of the response hold if one may act. */
export interface HeldRequest {
  body: Buffer;
  response: HoldContext | null;
}

export interface InterceptOptions {
  hooks: RuleHooks;
  store: FlowStore;
  maxBody: number;
  /** Relays the (edited) request to `ex.target`, as the client leg does for untouched streams. */
  send(ex: H2Exchange, pairs: Header[], held: HeldRequest): void;
}

export async function interceptH2(ex: H2Exchange, plan: RequestPlan, requestPairs: readonly Header[], options: InterceptOptions): Promise<void> {
  const { flow, stream } = ex;
  // Before any await: the body is captured and held from its first byte.
  const capture = ex.capture(flow.request, 'request');
  stream.on('data', (chunk: Buffer) => capture.push(chunk));
  stream.on('end', () => capture.finish());
  const body = collectBody(stream, MAX_HELD_BODY_BYTES);
  const gone = new AbortController();
  stream.once('close', () => {
    gone.abort();
    options.hooks.breakpoints.cancel(flow.id);
    if (ex.settled) return;
    const code = stream.rstCode ?? NGHTTP2_NO_ERROR;
    // A whole answer written at once may close the stream before 'finish': ended and not reset is done.
    if (code === NGHTTP2_NO_ERROR && stream.writableEnded && !stream.aborted && flow.response) return ex.complete();
    ex.fail(flow.response ? 'client-response' : 'client-request', new MitmError('MITM_ERR_CLIENT_ABORTED', `the client reset the stream with RST_STREAM ${errorCodeName(code)}`));
  });
  // An answer made here is done once handed to the session (the relays say so for theirs).
  stream.once('finish', () => {
    if (flow.response) ex.complete();
  });
  const ctx: HoldContext = { flow, hooks: options.hooks, store: options.store, maxBody: options.maxBody, signal: gone.signal };
  const outcome = await holdRequest(ctx, plan, body);
  if (outcome.kind !== 'send') return concludeH2(ex, outcome, ctx);
  if (ex.settled) return;
  const { draft } = outcome;
  const url = new URL(draft.url);
  const moved = movedTarget(ex.target, url);
  if (moved) ex.retarget({ ...moved, client: ex.target.client });
  noteForbidden(ex, requestPairs, draft.headers, 'request');
  const pairs = draftToH2Request(draft.method, url, draft.headers);
  // The flow shows the request as sent: pseudo-headers rebuilt, forbidden fields gone.
  flow.request.headers = pairs;
  ex.update();
  options.send(ex, pairs, { body: draft.body, response: plan.holdResponse ? ctx : null });
}
