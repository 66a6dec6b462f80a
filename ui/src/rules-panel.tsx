/**
 * The Rules panel: the server's ordered rule list, each enabled or not, added and edited as a
 * match (filter language) plus an action in JSON. The server validates; its error (field and
 * reason) is shown as text.
 */
import { signal } from '@preact/signals';
import { useEffect, useState } from 'preact/hooks';
import { deleteRule, fetchRules, saveRule } from './api.js';
import { notify } from './state.js';
import type { Rule, RuleAction } from './types.js';

export const rulesOpen = signal(false);
const rules = signal<readonly Rule[]>([]);

/** A starting point for each action type, edited as JSON. */
const TEMPLATES: Readonly<Record<RuleAction['type'], RuleAction>> = {
  pause: { type: 'pause', at: 'request' },
  respond: { type: 'respond', status: 200, headers: [['Content-Type', 'text/plain']], body: 'answered by mitmscope' },
  rewrite: { type: 'rewrite', target: 'response-body', find: 'old', replace: 'new' },
  delay: { type: 'delay', ms: 1000 },
  abort: { type: 'abort', how: 'reset' },
};

/** One line saying what a rule does. */
export function describeAction(a: RuleAction): string {
  switch (a.type) {
    case 'pause':
      return a.at === 'both' ? 'pause at request and response' : `pause at ${a.at}`;
    case 'respond':
      return `respond ${a.status} (${a.body.length} characters)`;
    case 'rewrite':
      return `rewrite ${a.target}: /${a.find}/ → ${JSON.stringify(a.replace)}`;
    case 'delay':
      return `delay ${a.ms} ms`;
    case 'abort':
      return `abort (${a.how === 'reset' ? 'reset' : 'close'} the connection)`;
  }
}

function reload(): void {
  fetchRules().then(
    (list) => (rules.value = list),
    (err: unknown) => notify('error', `Could not load rules: ${err instanceof Error ? err.message : String(err)}`),
  );
}

function RuleForm({ editing, onDone }: { editing: Rule | null; onDone: () => void }) {
  const [match, setMatch] = useState(editing?.match ?? '');
  const [action, setAction] = useState(JSON.stringify(editing?.action ?? TEMPLATES.pause, null, 2));
  const [error, setError] = useState<string | null>(null);
  const submit = () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(action);
    } catch (err) {
      setError(`action is not JSON: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    saveRule({ ...(editing ? { id: editing.id } : {}), enabled: editing?.enabled ?? true, match, action: parsed as RuleAction }).then(
      () => {
        setError(null);
        reload();
        onDone();
      },
      (err: unknown) => setError(err instanceof Error ? err.message : String(err)),
    );
  };
  return (
    <form class="rule-form" aria-label={editing ? 'Edit rule' : 'New rule'} onSubmit={(e) => (e.preventDefault(), submit())}>
      <label>
        Match <input aria-label="Match" class="mono" value={match} spellcheck={false} placeholder="host:api.example.com method:POST (empty matches everything)" onInput={(e) => setMatch(e.currentTarget.value)} />
      </label>
      <div class="rule-templates">
        Action:{' '}
        {(Object.keys(TEMPLATES) as RuleAction['type'][]).map((t) => (
          <button key={t} type="button" class="link" onClick={() => setAction(JSON.stringify(TEMPLATES[t], null, 2))}>
            {t}
          </button>
        ))}
      </div>
      <textarea aria-label="Action" class="mono" rows={6} spellcheck={false} value={action} onInput={(e) => setAction(e.currentTarget.value)} />
      {error !== null ? (
        <div class="banner error" role="alert">
          {error}
        </div>
      ) : null}
      <div class="editor-actions">
        <button type="submit" class="primary">
          {editing ? 'Save rule' : 'Add rule'}
        </button>
        {editing ? (
          <button type="button" onClick={onDone}>
            Cancel
          </button>
        ) : null}
      </div>
    </form>
  );
}

export function RulesPanel() {
  const [editing, setEditing] = useState<Rule | null>(null);
  useEffect(reload, []);
  const list = rules.value;
  const toggle = (r: Rule) => saveRule({ ...r, enabled: !r.enabled }).then(reload, (err: unknown) => notify('error', `Could not change the rule: ${err instanceof Error ? err.message : String(err)}`));
  const remove = (r: Rule) => deleteRule(r.id).then(reload, (err: unknown) => notify('error', `Could not delete the rule: ${err instanceof Error ? err.message : String(err)}`));
  return (
    <section class="rules-panel" aria-label="Rules">
      <div class="detail-head">
        <div class="detail-title">Rules — applied in order; the first matching respond or abort wins</div>
        <button class="icon close" aria-label="Close rules" onClick={() => (rulesOpen.value = false)}>
          ×
        </button>
      </div>
      {list.length === 0 ? <p class="muted pad">No rules: traffic passes untouched.</p> : null}
      <ol class="rule-list">
        {list.map((r) => (
          <li key={r.id} class={r.enabled ? '' : 'disabled'} data-rule={r.id}>
            <input type="checkbox" aria-label="Enabled" checked={r.enabled} onChange={() => void toggle(r)} />
            <code class="rule-match">{r.match === '' ? '(everything)' : r.match}</code>
            <span class="rule-action">{describeAction(r.action)}</span>
            <button type="button" class="link" onClick={() => setEditing(r)}>
              edit
            </button>
            <button type="button" class="link" onClick={() => void remove(r)}>
              delete
            </button>
          </li>
        ))}
      </ol>
      <RuleForm key={editing?.id ?? 'new'} editing={editing} onDone={() => setEditing(null)} />
    </section>
  );
}
