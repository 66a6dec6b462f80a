/**
 * Where a failure happened, in the terms the list and the waterfall show: which leg (client ↔
 * proxy or proxy ↔ server) and which timing phase. Stages are FailureStage in src/errors.ts.
 */
import type { Phase } from './phases.js';
import type { Leg } from './types.js';

const SERVER_STAGES = new Set(['dns', 'connect', 'upstream-tls', 'upstream-request', 'upstream-response', 'tunnel']);
const CLIENT_STAGES = new Set(['client-request', 'client-tls', 'client-response']);

/** The phase each server-side stage fails in; `upstream-response` may be waiting or receiving. */
const STAGE_PHASES: Record<string, readonly Phase['key'][]> = {
  dns: ['dns'],
  connect: ['tcp'],
  'upstream-tls': ['ssl'],
  'upstream-request': ['send'],
  'upstream-response': ['receive', 'wait'],
};

export function legOfStage(stage: string): Leg | null {
  if (SERVER_STAGES.has(stage)) return 'server';
  if (CLIENT_STAGES.has(stage)) return 'client';
  return null;
}

/** A summary's `error` is `stage: message`; the stage names the leg. */
export function failedLeg(error: string | null): Leg | null {
  if (error === null) return null;
  const colon = error.indexOf(':');
  return colon < 0 ? null : legOfStage(error.slice(0, colon));
}

/**
 * The phase that was running when the flow failed: the stage's own phase when it ran, else the
 * last phase that ran (a client hang-up ends whatever was in progress). Null when none ran.
 */
export function failedPhase(list: readonly Phase[], stage: string): Phase['key'] | null {
  for (const key of STAGE_PHASES[stage] ?? []) if (list.some((p) => p.key === key)) return key;
  return list.at(-1)?.key ?? null;
}
