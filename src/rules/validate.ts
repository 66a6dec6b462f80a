/**
 * Rules and edits from JSON (a file, the API) → typed values, or a FieldError that names the
 * index, the field and the reason. Nothing unvalidated reaches the proxy.
 */
import { randomUUID } from 'node:crypto';
import { FieldError } from '../errors.js';
import { parseFilter } from '../filter/parse.js';
import type { Header } from '../capture/flow.js';
import type { PauseAt, RewriteTarget, Rule, RuleAction } from './types.js';

/** An hour: longer than any client waits, short enough to catch a typo of seconds for ms. */
export const MAX_DELAY_MS = 3_600_000;
/** RFC 9110 §5.6.2 token: method and header names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Header values must not smuggle in a line break (response splitting). */
const HEADER_VALUE = /^[^\r\n\0]*$/;
const PAUSE_AT: readonly PauseAt[] = ['request', 'response', 'both'];
const TARGETS: readonly RewriteTarget[] = ['request-header', 'response-header', 'request-body', 'response-body', 'url'];

type Code = 'MITM_ERR_RULE_INVALID' | 'MITM_ERR_EDIT_INVALID';

/** Reads fields of one JSON object, throwing FieldErrors that carry the index and field. */
export class Fields {
  constructor(
    readonly obj: Record<string, unknown>,
    private readonly code: Code,
    private readonly index: number | null,
    private readonly prefix: string,
  ) {}

  static of(value: unknown, code: Code, index: number | null, prefix: string): Fields {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FieldError(code, index, prefix || 'body', 'must be a JSON object');
    return new Fields(value as Record<string, unknown>, code, index, prefix);
  }

  fail(field: string, reason: string): never {
    throw new FieldError(this.code, this.index, `${this.prefix}${field}`, reason);
  }

  has(field: string): boolean {
    return this.obj[field] !== undefined;
  }

  string(field: string, fallback?: string): string {
    const v = this.obj[field];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string') this.fail(field, 'must be a string');
    return v;
  }

  int(field: string, min: number, max: number, fallback?: number): number {
    const v = this.obj[field];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(field, `must be an integer from ${min} to ${max}`);
    return v;
  }

  oneOf<T extends string>(field: string, allowed: readonly T[]): T {
    const v = this.obj[field];
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) this.fail(field, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
    return v as T;
  }

  /**
   * `[name, value]` pairs. With `pseudo`, HTTP/2 pseudo-header lines (`:path`, `:status`, as a
   * flow of an HTTP/2 stream shows them) are accepted and left out: they are rebuilt from the
   * method, URL and status, on either protocol.
   */
  headers(field: string, pseudo = false): Header[] {
    const v = this.obj[field];
    if (!Array.isArray(v)) this.fail(field, 'must be an array of [name, value] pairs');
    const out: Header[] = [];
    v.forEach((pair: unknown, i) => {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') this.fail(`${field}[${i}]`, 'must be a [name, value] pair of strings');
      const [name, value] = pair as [string, string];
      if (pseudo && name.startsWith(':') && TOKEN.test(name.slice(1))) return;
      if (!TOKEN.test(name)) this.fail(`${field}[${i}]`, `"${name.slice(0, 60)}" is not a valid header name`);
      if (!HEADER_VALUE.test(value)) this.fail(`${field}[${i}]`, 'a header value must not contain line breaks or NUL');
      out.push([name, value]);
    });
    return out;
  }

  /** UTF-8 text, or `{"base64": "..."}` for bytes. */
  body(field: string): Buffer {
    const v = this.obj[field];
    if (typeof v === 'string') return Buffer.from(v, 'utf8');
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const b64 = (v as Record<string, unknown>)['base64'];
      if (typeof b64 === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(b64.replace(/\s/g, ''))) return Buffer.from(b64, 'base64');
    }
    this.fail(field, 'must be UTF-8 text or {"base64": "..."}');
  }

  regex(field: string): string {
    const v = this.string(field);
    try {
      new RegExp(v, 'g');
    } catch (err) {
      this.fail(field, `is not a valid regular expression: ${(err as Error).message}`);
    }
    return v;
  }

  token(field: string): string {
    const v = this.string(field);
    if (!TOKEN.test(v)) this.fail(field, `"${v.slice(0, 60)}" is not a valid HTTP token`);
    return v;
  }
}

/** An absolute http(s) URL, or a reason. */
export function httpUrl(value: string): URL | string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an absolute http:// or https:// URL';
  return url;
}

function action(f: Fields): RuleAction {
  const type = f.oneOf('type', ['pause', 'respond', 'rewrite', 'delay', 'abort'] as const);
  switch (type) {
    case 'pause':
      return { type, at: f.has('at') ? f.oneOf('at', PAUSE_AT) : 'request' };
    case 'respond':
      return {
        type,
        status: f.int('status', 100, 999, 200),
        headers: f.has('headers') ? f.headers('headers') : [],
        body: f.string('body', ''),
      };
    case 'rewrite':
      return { type, target: f.oneOf('target', TARGETS), find: f.regex('find'), replace: f.string('replace', '') };
    case 'delay':
      return { type, ms: f.int('ms', 0, MAX_DELAY_MS) };
    case 'abort':
      return { type, how: f.has('how') ? f.oneOf('how', ['reset', 'close'] as const) : 'reset' };
  }
}

/** One rule; `id` is kept when given (a restart keeps ids stable), made otherwise. */
export function validateRule(value: unknown, index: number | null): Rule {
  const f: Fields = Fields.of(value, 'MITM_ERR_RULE_INVALID', index, '');
  const id = f.has('id') ? f.string('id') : randomUUID();
  if (id === '' || id.length > 200) f.fail('id', 'must be 1 to 200 characters');
  const enabled = f.obj['enabled'] ?? true;
  if (typeof enabled !== 'boolean') return f.fail('enabled', 'must be true or false');
  const match = f.string('match', '');
  const parsed = parseFilter(match);
  if (parsed.errors.length > 0) f.fail('match', parsed.errors.join('; '));
  const act = Fields.of(f.obj['action'], 'MITM_ERR_RULE_INVALID', index, 'action.');
  return { id, enabled, match, action: action(act) };
}

/** A whole list (a rules file); ids must be unique. */
export function validateRules(value: unknown): Rule[] {
  if (!Array.isArray(value)) throw new FieldError('MITM_ERR_RULE_INVALID', null, 'rules', 'must be a JSON array of rules');
  const seen = new Set<string>();
  return value.map((v, i) => {
    const rule = validateRule(v, i);
    if (seen.has(rule.id)) throw new FieldError('MITM_ERR_RULE_INVALID', i, 'id', `"${rule.id}" is used by an earlier rule`);
    seen.add(rule.id);
    return rule;
  });
}
