/**
 * The two holds of an exchange that rules touch: before the request goes upstream, and before
 * the response goes to the client. Each works on a draft (a whole message in memory), applies
 * delays, rewrites and breakpoints, and says what to do next; the Forwarder does the I/O.
 */
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { summarize, type CapturedMessage, type CapturedResponse, type Flow } from '../capture/flow.js';
import type { BodyPart, FlowStore } from '../capture/store.js';
import { MitmError } from '../errors.js';
import type { Breakpoints, Decision, PausePhase } from './breakpoints.js';
import { applyRequestEdits, applyResponseEdits, applyRewrite, fixLength, flatHeaders, type RequestDraft, type RequestEdits, type ResponseDraft, type ResponseEdits } from './edits.js';
import { planResponse, type RequestPlan } from './plan.js';
import type { RuleSet } from './rule-set.js';
import type { HarReplay } from './serve-har.js';

/**
 * A held message lives in memory whole; past this, a request is refused (413) and a response is
 * streamed on untouched. Large enough for any API payload or page, small enough for 2 GB heaps.
 */
export const MAX_HELD_BODY_BYTES = 64 * 1024 * 1024;

export interface RuleHooks {
  rules: RuleSet;
  breakpoints: Breakpoints;
  /** Answers recorded in a HAR file (--serve-har); null when not replaying. */
  serveHar: HarReplay | null;
}

export interface HoldContext {
  flow: Flow;
  hooks: RuleHooks;
  store: FlowStore;
  maxBody: number;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

/** What the Forwarder does next: send the draft on, answer an error, drop the connection, or nothing (client gone). */
export type Outcome<D> =
  | { kind: 'send'; draft: D }
  | { kind: 'answer'; draft: ResponseDraft }
  /** Answered with mitmscope's error response (status from the code). */
  | { kind: 'stop'; error: MitmError }
  | { kind: 'drop'; how: 'reset' | 'close'; error: MitmError }
  | { kind: 'gone' };

/** Reads a whole body; null when it passes `limit` (the stream keeps flowing for other readers). */
export function collectBody(stream: Readable, limit: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        stream.off('data', onData);
        resolve(null);
        return;
      }
      chunks.push(chunk);
    };
    stream.on('data', onData);
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** Said on a flow whose response was too large to hold: it went to the client untouched. */
export const STREAMED_WITHOUT_RULES = `response larger than ${MAX_HELD_BODY_BYTES} bytes: streamed without rules`;

export interface HoldWholeHandlers {
  /** The whole body, once the source ended within the limit. */
  whole(body: Buffer): void;
  /**
   * The body passed the limit: called synchronously with what arrived so far (the last chunk
   * included), after which this reader has let go, so the caller pipes the source on at once.
   */
  spill(head: Buffer[]): void;
}

/** Reads a message body whole for a hold, or gives it back to stream on when it is too large. */
export function holdWhole(source: Readable, limit: number, handlers: HoldWholeHandlers): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    chunks.push(chunk);
    if (size <= limit) return;
    source.off('data', onData);
    source.off('end', onEnd);
    handlers.spill(chunks);
  };
  const onEnd = (): void => handlers.whole(Buffer.concat(chunks));
  source.on('data', onData);
  source.once('end', onEnd);
}

/** The flow's record of an answer made here (a rule's or a HAR's), before the response hold. */
export function answeredResponse(draft: ResponseDraft, httpVersion: string): CapturedResponse {
  return { status: draft.status, statusText: '', httpVersion, headers: draft.headers, bodySize: 0, bodyTruncated: false, body: Buffer.alloc(0), trailers: [] };
}

/** A draft's body as the flow keeps it: a capped copy in the session, replaced only when it changed. */
function keep(ctx: HoldContext, part: BodyPart, message: CapturedMessage, headers: CapturedMessage['headers'], body: Buffer, captured: Buffer | null): void {
  message.headers = headers;
  if (body === captured) return;
  const max = ctx.maxBody;
  message.bodySize = body.length;
  message.bodyTruncated = body.length > max;
  ctx.store.replaceBody(ctx.flow, part, body.length > max ? body.subarray(0, max) : body);
}

/**
 * The flow shows what will be (or was) sent: the draft after rewrites and edits. `captured` is
 * the body as the capture already stored it (then it is not stored again).
 */
export function showRequest(ctx: HoldContext, draft: RequestDraft, captured: Buffer | null): void {
  ctx.flow.request.method = draft.method;
  ctx.flow.request.url = draft.url;
  keep(ctx, 'request', ctx.flow.request, draft.headers, draft.body, captured);
}

export function showResponse(ctx: HoldContext, draft: ResponseDraft, captured: Buffer | null): void {
  const response = ctx.flow.response;
  if (!response) return;
  response.status = draft.status;
  response.statusText = draft.statusText;
  keep(ctx, 'response', response, draft.headers, draft.body, captured);
}

function phaseWords(phase: PausePhase): string {
  return `at the ${phase} breakpoint`;
}

function pause(ctx: HoldContext, phase: 'request'): Promise<Decision<RequestEdits>>;
function pause(ctx: HoldContext, phase: 'response'): Promise<Decision<ResponseEdits>>;
async function pause(ctx: HoldContext, phase: PausePhase): Promise<Decision<RequestEdits | ResponseEdits>> {
  const { flow, store } = ctx;
  flow.state = 'paused';
  flow.paused = phase;
  store.update(flow);
  const decision = phase === 'request' ? await ctx.hooks.breakpoints.wait(flow.id, 'request') : await ctx.hooks.breakpoints.wait(flow.id, 'response');
  // A client that left meanwhile has already failed the flow.
  if (flow.state === 'paused') flow.state = 'pending';
  flow.paused = null;
  store.update(flow);
  return decision;
}

/** A decision other than resume, as an outcome. */
function notResumed(ctx: HoldContext, phase: PausePhase, kind: 'abort' | 'timeout' | 'gone'): Outcome<never> {
  if (kind === 'gone') return { kind: 'gone' };
  if (kind === 'abort') return { kind: 'stop', error: new MitmError('MITM_ERR_ABORTED', `aborted in mitmscope ${phaseWords(phase)}`) };
  const ms = ctx.hooks.breakpoints.timeoutMs;
  return { kind: 'stop', error: new MitmError('MITM_ERR_PAUSE_TIMEOUT', `paused in mitmscope ${phaseWords(phase)} for ${ms} ms without being resumed (--pause-timeout)`) };
}

async function delay(ms: number, signal: AbortSignal): Promise<boolean> {
  if (ms <= 0) return true;
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** The request hold: delay, then respond/abort, or rewrites and a breakpoint. */
export async function holdRequest(ctx: HoldContext, plan: RequestPlan, body: Promise<Buffer | null>): Promise<Outcome<RequestDraft>> {
  if (!(await delay(plan.delayMs, ctx.signal))) return { kind: 'gone' };
  const whole = await body;
  if (ctx.signal.aborted) return { kind: 'gone' };
  if (whole === null) {
    return { kind: 'stop', error: new MitmError('MITM_ERR_TOO_LARGE', `the request body is larger than ${MAX_HELD_BODY_BYTES} bytes, too large to hold for a rule`) };
  }
  const final = plan.final;
  if (final?.type === 'abort') {
    return { kind: 'drop', how: final.how, error: new MitmError('MITM_ERR_ABORTED', `aborted by a rule (connection ${final.how === 'reset' ? 'reset' : 'closed'})`) };
  }
  if (final?.type === 'respond') {
    const bodyBytes = Buffer.from(final.body, 'utf8');
    ctx.flow.notes.push('answered by a rule without contacting the server');
    return { kind: 'answer', draft: { status: final.status, statusText: '', headers: fixLength(final.headers, bodyBytes, true), body: bodyBytes } };
  }
  const { flow } = ctx;
  const served = ctx.hooks.serveHar?.take(flow.request.method, flow.request.url, whole) ?? null;
  if (served) {
    flow.notes.push(`answered from ${ctx.hooks.serveHar!.name} without contacting the server`);
    return { kind: 'answer', draft: served };
  }
  const draft: RequestDraft = { method: flow.request.method, url: flow.request.url, headers: flow.request.headers, body: whole };
  for (const r of plan.rewrites) applyRewrite(draft, r.target, r.find, r.replace);
  if (plan.pause) {
    showRequest(ctx, draft, whole);
    const decision = await pause(ctx, 'request');
    if (decision.kind !== 'resume') return notResumed(ctx, 'request', decision.kind);
    applyRequestEdits(draft, decision.edits);
  }
  draft.headers = fixLength(draft.headers, draft.body, false);
  showRequest(ctx, draft, whole);
  return { kind: 'send', draft };
}

/** HEAD answers and 1xx/204/304 carry no body (RFC 9110 §6.4.1). */
export function isBodyless(requestMethod: string, status: number): boolean {
  return requestMethod === 'HEAD' || status < 200 || status === 204 || status === 304;
}

/** Writes a held response to the client, head and body at once. */
export function writeResponse(res: ServerResponse, draft: ResponseDraft, bodyless: boolean): void {
  // Keep-Alive parameters describe the server's connection, not ours with the client.
  const headers = flatHeaders(draft.headers.filter(([n]) => n.toLowerCase() !== 'keep-alive'));
  if (draft.statusText) res.writeHead(draft.status, draft.statusText, headers);
  else res.writeHead(draft.status, headers);
  res.end(bodyless ? undefined : draft.body);
}

/**
 * The response hold: delay, rewrites and a breakpoint, with the status known. `captured` is the
 * body as the capture stored it (an upstream answer), null for answers made here.
 */
export async function holdResponse(ctx: HoldContext, draft: ResponseDraft, bodyless: boolean, captured: Buffer | null): Promise<Outcome<ResponseDraft>> {
  const plan = planResponse(ctx.hooks.rules.active, summarize(ctx.flow));
  if (!(await delay(plan.delayMs, ctx.signal))) return { kind: 'gone' };
  for (const r of plan.rewrites) applyRewrite(draft, r.target, r.find, r.replace);
  if (plan.pause) {
    showResponse(ctx, draft, captured);
    const decision = await pause(ctx, 'response');
    if (decision.kind !== 'resume') return notResumed(ctx, 'response', decision.kind);
    applyResponseEdits(draft, decision.edits);
  }
  // A bodyless answer's Content-Length describes another answer: left as it is.
  if (!bodyless) draft.headers = fixLength(draft.headers, draft.body, true);
  showResponse(ctx, draft, captured);
  return { kind: 'send', draft };
}
