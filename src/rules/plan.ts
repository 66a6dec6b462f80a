/**
 * Which rules act on one exchange, and when. Evaluated twice: before the request goes upstream
 * (no response yet: `status:` and `type:` terms cannot match) and when the response is in.
 *
 * Request phase: delays (whose match reads no response) run first; then the first matching
 * `respond` or `abort` answers; otherwise every matching request rewrite applies, then a
 * request breakpoint. Response phase: delays whose match reads the response, every response
 * rewrite, then a response breakpoint.
 */
import type { FilterSubject } from '../filter/match.js';
import type { CompiledRule } from './rule-set.js';
import { REQUEST_TARGETS, type RuleAction } from './types.js';

export type FinalAction = Extract<RuleAction, { type: 'respond' | 'abort' }>;
export type RewriteAction = Extract<RuleAction, { type: 'rewrite' }>;

export interface RequestPlan {
  delayMs: number;
  final: FinalAction | null;
  rewrites: RewriteAction[];
  pause: boolean;
  /** Some response-phase rule may match: the response must be held, not streamed. */
  holdResponse: boolean;
}

export interface ResponsePlan {
  delayMs: number;
  rewrites: RewriteAction[];
  pause: boolean;
}

function pausesAt(action: RuleAction, phase: 'request' | 'response'): boolean {
  return action.type === 'pause' && (action.at === phase || action.at === 'both');
}

function isResponseAction(rule: CompiledRule): boolean {
  const a = rule.rule.action;
  return pausesAt(a, 'response') || (a.type === 'rewrite' && !REQUEST_TARGETS.has(a.target)) || (a.type === 'delay' && rule.readsResponse);
}

/**
 * The plan for one exchange, or null to stream it untouched. `subject` is made only when a rule
 * exists, so traffic without rules pays nothing; `holdAll` (--serve-har) holds every request.
 */
export function planExchange(rules: readonly CompiledRule[], holdAll: boolean, subject: () => FilterSubject): RequestPlan | null {
  const plan = rules.length > 0 ? planRequest(rules, subject()) : null;
  return plan ?? (holdAll ? { delayMs: 0, final: null, rewrites: [], pause: false, holdResponse: false } : null);
}

/** The request-phase plan; null when no rule touches the exchange (it then streams untouched). */
export function planRequest(rules: readonly CompiledRule[], subject: FilterSubject): RequestPlan | null {
  if (rules.length === 0) return null;
  const plan: RequestPlan = { delayMs: 0, final: null, rewrites: [], pause: false, holdResponse: false };
  let touched = false;
  for (const r of rules) {
    const a = r.rule.action;
    if (isResponseAction(r)) {
      if (r.mayMatch(subject)) plan.holdResponse = touched = true;
      // A `both` breakpoint also stops the request.
      if (!(a.type === 'pause' && a.at === 'both')) continue;
    }
    if (!r.test(subject)) continue;
    switch (a.type) {
      case 'delay':
        plan.delayMs += a.ms;
        touched = true;
        break;
      case 'respond':
      case 'abort':
        plan.final ??= a;
        touched = true;
        break;
      case 'rewrite':
        plan.rewrites.push(a);
        touched = true;
        break;
      case 'pause':
        plan.pause = touched = true;
        break;
    }
  }
  return touched ? plan : null;
}

/** The response-phase plan, with the response's status and type known. */
export function planResponse(rules: readonly CompiledRule[], subject: FilterSubject): ResponsePlan {
  const plan: ResponsePlan = { delayMs: 0, rewrites: [], pause: false };
  for (const r of rules) {
    if (!isResponseAction(r) || !r.test(subject)) continue;
    const a = r.rule.action;
    if (a.type === 'delay') plan.delayMs += a.ms;
    else if (a.type === 'rewrite') plan.rewrites.push(a);
    else if (a.type === 'pause') plan.pause = true;
  }
  return plan;
}
