/**
 * The live, ordered rule list: compiled once per change (filters and regexes), read by the proxy
 * per exchange, changed through the API, saved through a RuleStorage after every change.
 */
import { compileFilter, readsResponse, type Matcher } from '../filter/match.js';
import { parseFilter } from '../filter/parse.js';
import { MitmError } from '../errors.js';
import type { RuleStorage } from './persist.js';
import type { Rule } from './types.js';

export interface CompiledRule {
  rule: Rule;
  /** Exact: status and type terms need a response. */
  test: Matcher;
  /** Before the response: status and type terms may still match. */
  mayMatch: Matcher;
  readsResponse: boolean;
}

function compile(rule: Rule): CompiledRule {
  const parsed = parseFilter(rule.match);
  return {
    rule,
    test: compileFilter(parsed).test,
    mayMatch: compileFilter(parsed, { responseUnknown: 'maybe' }).test,
    readsResponse: readsResponse(parsed),
  };
}

export class RuleSet {
  private rules: Rule[] = [];
  private compiledRules: CompiledRule[] = [];

  constructor(private readonly storage: RuleStorage | null = null) {}

  /** Enabled rules, compiled, in order. */
  get active(): readonly CompiledRule[] {
    return this.compiledRules;
  }

  list(): Rule[] {
    return [...this.rules];
  }

  get(id: string): Rule | undefined {
    return this.rules.find((r) => r.id === id);
  }

  /** Loads saved rules, if any (start-up). */
  async load(): Promise<void> {
    const saved = await this.storage?.load();
    if (saved) this.install(saved);
  }

  async replaceAll(rules: Rule[]): Promise<void> {
    await this.change(rules);
  }

  async add(rule: Rule): Promise<Rule> {
    if (this.get(rule.id)) throw new MitmError('MITM_ERR_RULE_INVALID', `id: a rule with id "${rule.id}" exists (PUT /api/rules/${rule.id} changes it)`);
    await this.change([...this.rules, rule]);
    return rule;
  }

  /** Replaces the rule with this id in its place; false when there is none. */
  async update(id: string, rule: Rule): Promise<boolean> {
    const i = this.rules.findIndex((r) => r.id === id);
    if (i < 0) return false;
    const next = [...this.rules];
    next[i] = { ...rule, id };
    await this.change(next);
    return true;
  }

  async remove(id: string): Promise<boolean> {
    const next = this.rules.filter((r) => r.id !== id);
    if (next.length === this.rules.length) return false;
    await this.change(next);
    return true;
  }

  /** Installs a new list at once; if it cannot be saved the old one comes back, so memory and file agree. */
  private async change(rules: Rule[]): Promise<void> {
    const before = this.rules;
    this.install(rules);
    try {
      await this.storage?.save(this.rules);
    } catch (err) {
      this.install(before);
      throw err;
    }
  }

  private install(rules: Rule[]): void {
    this.rules = rules;
    this.compiledRules = rules.filter((r) => r.enabled).map(compile);
  }
}
