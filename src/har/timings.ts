/**
 * Flow timings ⇄ HAR timings. The flow keeps TCP connect and TLS apart; HAR 1.2 §timings says
 * `ssl` is also included in `connect` (for HAR 1.1 readers). mitmproxy once wrote them disjoint
 * and HttpWatch showed every HTTPS request with a negative TCP phase.
 */
import type { Timings } from '../capture/flow.js';
import type { HarTimings } from './types.js';

/** HAR's "this phase did not happen". */
export const NOT_APPLICABLE = -1;

/** Microsecond precision: enough for a timeline, and keeps float noise out of round trips. */
export function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function phase(ms: number): number {
  return ms < 0 ? NOT_APPLICABLE : round3(ms);
}

export function toHarTimings(t: Timings): HarTimings {
  const connect = t.connect < 0 && t.ssl < 0 ? NOT_APPLICABLE : round3(Math.max(t.connect, 0) + Math.max(t.ssl, 0));
  return {
    blocked: phase(t.blocked),
    dns: phase(t.dns),
    connect,
    ssl: phase(t.ssl),
    send: phase(t.send),
    wait: phase(t.wait),
    receive: phase(t.receive),
  };
}

/** HAR 1.2 `entry.time`: the sum of the phases that happened; `ssl` is not added twice (it is inside `connect`). */
export function totalTime(h: HarTimings): number {
  let sum = 0;
  for (const v of [h.blocked, h.dns, h.connect, h.send, h.wait, h.receive]) if (v !== undefined && v > 0) sum += v;
  return round3(sum);
}

/** Missing optional phases read as "did not happen"; connect becomes TCP-only again. */
export function fromHarTimings(h: { [K in keyof Timings]?: number | undefined }): Timings {
  const get = (v: number | undefined, missing: number): number => (v === undefined ? missing : phase(v));
  const ssl = get(h.ssl, NOT_APPLICABLE);
  const connect = get(h.connect, NOT_APPLICABLE);
  return {
    blocked: get(h.blocked, NOT_APPLICABLE),
    dns: get(h.dns, NOT_APPLICABLE),
    connect: connect >= 0 && ssl >= 0 ? round3(Math.max(0, connect - ssl)) : connect,
    ssl,
    send: get(h.send, 0),
    wait: get(h.wait, 0),
    receive: get(h.receive, 0),
  };
}
