/**
 * Rules: an ordered list of `{id, enabled, match, action}`. `match` is filter-language text
 * (src/filter/) evaluated on the server; free text matches the URL.
 */
import type { Header } from '../capture/flow.js';

export type PauseAt = 'request' | 'response' | 'both';
export type RewriteTarget = 'request-header' | 'response-header' | 'request-body' | 'response-body' | 'url';

export type RuleAction =
  | { type: 'pause'; at: PauseAt }
  | { type: 'respond'; status: number; headers: Header[]; body: string }
  | { type: 'rewrite'; target: RewriteTarget; find: string; replace: string }
  | { type: 'delay'; ms: number }
  | { type: 'abort'; how: 'reset' | 'close' };

export interface Rule {
  id: string;
  enabled: boolean;
  match: string;
  action: RuleAction;
}

/** Rewrite targets applied before the request goes upstream. */
export const REQUEST_TARGETS: ReadonlySet<RewriteTarget> = new Set<RewriteTarget>(['request-header', 'request-body', 'url']);
