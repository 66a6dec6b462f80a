/**
 * The I/O of rules on an HTTP/2 stream: what the shared holds (src/rules/hold.ts) decide becomes
 * frames on the client's stream. An answer is HEADERS (and DATA) built from the draft under
 * RFC 9113's rules; a drop is a RST_STREAM on this stream only, so the connection's other
 * streams carry on. Fields HTTP/2 forbids that a rule or an edit set are dropped with a note.
 */
import http2 from 'node:http2';
import type { Readable } from 'node:stream';
import type { Header } from '../../capture/flow.js';
import { MitmError } from '../../errors.js';
import type { ResponseDraft } from '../../rules/edits.js';
import { answeredResponse, holdResponse, holdWhole, isBodyless, MAX_HELD_BODY_BYTES, STREAMED_WITHOUT_RULES, type HoldContext, type Outcome } from '../../rules/hold.js';
import { errorCodeName } from './frames.js';
import { draftToH2Response, forbiddenOnH2, trailersForH2 } from './translate.js';
import type { H2Exchange } from './exchange.js';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

/**
 * RST_STREAM codes for an `abort` rule: `reset` looks like a server that failed mid-stream
 * (INTERNAL_ERROR), `close` like one that hung up without an answer and without an error.
 */
export const DROP_CODES: Readonly<Record<'reset' | 'close', number>> = { reset: NGHTTP2_INTERNAL_ERROR, close: NGHTTP2_NO_ERROR };

/** Notes the fields HTTP/2 forbids that `after` has and `before` (what the peer sent) had not. */
export function noteForbidden(ex: H2Exchange, before: readonly Header[], after: readonly Header[], part: 'request' | 'response'): void {
  const had = new Set(forbiddenOnH2(before));
  const added = forbiddenOnH2(after).filter((n) => !had.has(n));
  if (added.length === 0) return;
  ex.flow.notes.push(`${part} field${added.length > 1 ? 's' : ''} ${added.join(', ')} from a rule, an edit or a served HAR not sent: HTTP/2 forbids connection-specific fields (RFC 9113 §8.2.2)`);
}

/** A hold that threw (a bug): the stream gets a 500 saying so rather than the process an unhandled rejection. */
export function internalError(ex: H2Exchange, err: unknown): void {
  ex.abort(new MitmError('MITM_ERR_INTERNAL', `internal error while applying rules: ${(err as Error).message}`), undefined, 'intercept');
}

/** Sends a held response whole on the client's stream. `before`: the fields as the server sent them. */
export function writeH2Response(ex: H2Exchange, draft: ResponseDraft, bodyless: boolean, before: readonly Header[]): void {
  const s = ex.stream;
  if (s.destroyed || s.closed) return;
  noteForbidden(ex, before, draft.headers, 'response');
  // The flow shows the status that was sent, also in its pseudo-header line.
  const i = draft.headers.findIndex(([n]) => n === ':status');
  if (i >= 0) draft.headers[i] = [':status', String(draft.status)];
  const empty = bodyless || draft.body.length === 0;
  // The server's trailers (gRPC's status) follow a held body as they follow a streamed one.
  const trailers = ex.flow.response?.trailers ?? [];
  const ends = empty && trailers.length === 0;
  try {
    s.respond(draftToH2Response(draft.status, draft.headers), { endStream: ends, waitForTrailers: !ends });
  } catch (err) {
    // Node refuses what HTTP/2 cannot carry (e.g. status 101 or an informational final status).
    ex.abort(new MitmError('MITM_ERR_EDIT_INVALID', `the response cannot be sent on HTTP/2 (${(err as Error).message})`), undefined, 'intercept');
    return;
  }
  if (ends) return;
  s.once('wantTrailers', () => s.sendTrailers(trailersForH2(trailers)));
  s.end(empty ? undefined : draft.body);
}

/** The response hold, then the (edited) response to the client. `captured`: the body as stored. */
export async function respondHeld(ex: H2Exchange, ctx: HoldContext, draft: ResponseDraft, captured: Buffer | null, before: readonly Header[]): Promise<void> {
  const bodyless = isBodyless(ex.flow.request.method, draft.status);
  const outcome = await holdResponse(ctx, draft, bodyless, captured);
  if (outcome.kind !== 'send') return concludeH2(ex, outcome, ctx);
  if (ex.settled) return;
  writeH2Response(ex, outcome.draft, bodyless, before);
}

/**
 * Reads an upstream response whole for the response hold; one too large to hold is handed to
 * `streamOn` with what arrived so far, to be relayed as it would have been without rules.
 */
export function holdUpstreamResponse(ex: H2Exchange, ctx: HoldContext, source: Readable, streamOn: (head: Buffer[]) => void): void {
  const response = ex.flow.response!;
  const before = response.headers;
  holdWhole(source, MAX_HELD_BODY_BYTES, {
    whole: (body) => {
      if (ex.settled) return;
      const draft: ResponseDraft = { status: response.status, statusText: response.statusText, headers: response.headers, body };
      respondHeld(ex, ctx, draft, body, before).catch((err: unknown) => internalError(ex, err));
    },
    spill: (head) => {
      ex.flow.notes.push(STREAMED_WITHOUT_RULES);
      streamOn(head);
    },
  });
}

/** Ends a stream the holds did not send on: answered here, refused with an error, reset, or gone. */
export function concludeH2(ex: H2Exchange, outcome: Exclude<Outcome<unknown>, { kind: 'send' }>, ctx: HoldContext): void {
  if (ex.settled) return;
  const s = ex.stream;
  switch (outcome.kind) {
    case 'answer':
      ex.answeredLocally();
      ex.flow.response = answeredResponse(outcome.draft, '2');
      ex.update();
      respondHeld(ex, ctx, outcome.draft, null, []).catch((err: unknown) => internalError(ex, err));
      return;
    case 'stop':
      ex.abort(outcome.error, undefined, 'intercept');
      return;
    case 'drop': {
      const code = DROP_CODES[outcome.how];
      ex.fail('intercept', new MitmError('MITM_ERR_ABORTED', `aborted by a rule (stream reset with RST_STREAM ${errorCodeName(code)}; the connection's other streams carry on)`));
      if (!s.destroyed && !s.closed) s.close(code);
      return;
    }
    case 'gone':
      ex.fail('intercept', new MitmError('MITM_ERR_ABORTED', 'the exchange ended while held (the client left or mitmscope stopped)'));
      if (!s.destroyed && !s.closed) s.close(NGHTTP2_CANCEL);
      return;
  }
}
