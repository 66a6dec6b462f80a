/**
 * Compare two flows side by side: request lines, headers (added / removed / changed, in wire
 * order), bodies as a line diff (JSON pretty-printed, plus the paths whose values differ),
 * timings and both TLS handshakes. Two rows are picked with shift-click, or `x` on each.
 * Everything captured is rendered as text.
 */
import { effect, signal } from '@preact/signals';
import { useEffect, useState } from 'preact/hooks';
import { fetchBody, fetchFlow } from './api.js';
import { diffHeaders, diffJson, diffLines, parseJson, type Change, type JsonChange } from './diff.js';
import { formatDuration } from './format.js';
import { phases } from './phases.js';
import { openId, selectedId } from './state.js';
import type { FlowDetail, Handshake } from './types.js';

/** The two flows being compared, in the order they were picked. */
export const compareIds = signal<readonly [string, string] | null>(null);
/** The first pick, waiting for the second. */
export const compareMark = signal<string | null>(null);

/** Picks `id` for comparison: with a flow already picked (or selected), the two are compared. */
export function pickForCompare(id: string, useSelection: boolean): void {
  const first = compareMark.value ?? (useSelection ? selectedId.value : null);
  if (first === null || first === id) {
    compareMark.value = id;
    return;
  }
  compareMark.value = null;
  compareIds.value = [first, id];
  openId.value = null;
}

export function closeCompare(): void {
  compareIds.value = null;
}

// Opening one flow's detail ends the comparison.
effect(() => {
  if (openId.value !== null && compareIds.peek() !== null) compareIds.value = null;
});

/** Says which flow waits for a second pick (the row itself shows nothing of it). */
export function CompareHint() {
  const mark = compareMark.value;
  if (mark === null) return null;
  return (
    <div class="compare-hint" role="status">
      One flow picked for comparison: shift-click another row, or select it and press x.
      <button class="icon" aria-label="Cancel the comparison" onClick={() => (compareMark.value = null)}>
        ×
      </button>
    </div>
  );
}

const SIGN: Record<Change, string> = { same: ' ', changed: '~', added: '+', removed: '−' };
const WORD: Record<Change, string> = { same: 'same', changed: 'changed', added: 'only in B', removed: 'only in A' };

interface Side {
  flow: FlowDetail;
  request: string;
  response: string | null;
}

async function loadSide(id: string, signal: AbortSignal): Promise<Side> {
  const flow = await fetchFlow(id, signal);
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  const request = flow.request.bodySize > 0 ? text((await fetchBody(id, 'request', signal)).bytes) : '';
  const response = flow.response ? (flow.response.bodySize > 0 ? text((await fetchBody(id, 'response', signal)).bytes) : '') : null;
  return { flow, request, response };
}

/** JSON pretty-printed so a line diff follows its structure; other text as it is. */
function pretty(text: string): { text: string; json: unknown } {
  const json = parseJson(text);
  return json === undefined ? { text, json } : { text: JSON.stringify(json, null, 2), json };
}

function HeaderTable({ title, a, b }: { title: string; a: FlowDetail['request']['headers']; b: FlowDetail['request']['headers'] }) {
  const rows = diffHeaders(a, b);
  return (
    <table class="cmp-headers" aria-label={title}>
      <caption>{title}</caption>
      <thead>
        <tr>
          <th scope="col">Change</th>
          <th scope="col">Name</th>
          <th scope="col">A</th>
          <th scope="col">B</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r, i) => (
          <tr key={i} class={`cmp-${r.change}`} data-change={r.change}>
            <td>
              <span aria-hidden="true">{SIGN[r.change]} </span>
              {WORD[r.change]}
            </td>
            <th scope="row">{r.name}</th>
            <td>{r.a ?? ''}</td>
            <td>{r.b ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function jsonValue(v: unknown): string {
  return v === undefined ? '' : JSON.stringify(v);
}

function BodyDiff({ title, a, b }: { title: string; a: string | null; b: string | null }) {
  if (a === null && b === null) return null;
  if (!a && !b) {
    return (
      <section class="cmp-body" aria-label={title}>
        <h3>{title}</h3>
        <p class="muted">Neither has one.</p>
      </section>
    );
  }
  const pa = pretty(a ?? '');
  const pb = pretty(b ?? '');
  const structural: JsonChange[] | null = pa.json !== undefined && pb.json !== undefined ? diffJson(pa.json, pb.json) : null;
  const lines = diffLines(pa.text, pb.text);
  return (
    <section class="cmp-body" aria-label={title}>
      <h3>{title}</h3>
      {structural !== null ? (
        structural.length === 0 ? (
          <p class="muted">Same JSON.</p>
        ) : (
          <ul class="cmp-json" aria-label={`${title}: JSON differences`}>
            {structural.map((c) => (
              <li key={c.path} data-change={c.change} data-path={c.path}>
                <code>{c.path}</code> {c.change === 'changed' ? `changed: ${jsonValue(c.a)} → ${jsonValue(c.b)}` : c.change === 'added' ? `only in B: ${jsonValue(c.b)}` : `only in A: ${jsonValue(c.a)}`}
              </li>
            ))}
          </ul>
        )
      ) : null}
      {lines === null ? (
        <p class="muted">Too long to diff line by line.</p>
      ) : lines.every((l) => l.change === 'same') ? (
        structural === null ? <p class="muted">Same text.</p> : null
      ) : (
        <pre class="cmp-lines" tabIndex={0} aria-label={`${title}: line diff`}>
          {lines.map((l, i) => (
            <span key={i} class={`cmp-line cmp-${l.change}`}>
              {l.change === 'added' ? '+ ' : l.change === 'removed' ? '- ' : '  '}
              {l.text}
              {'\n'}
            </span>
          ))}
        </pre>
      )}
    </section>
  );
}

function handshakeLines(h: Handshake | null): string[] {
  if (h === null) return ['no TLS'];
  const cert = h.certificates[0];
  return [
    `version: ${h.version ?? '—'}`,
    `cipher: ${h.cipher?.name ?? '—'}`,
    `ALPN: ${h.alpn ?? '—'}`,
    `certificate: ${cert ? `${cert.subject} (issuer ${cert.issuer})` : '—'}`,
    ...(h.error ? [`error: ${h.error}`] : []),
  ];
}

function TwoColumns({ title, a, b }: { title: string; a: string[]; b: string[] }) {
  const n = Math.max(a.length, b.length);
  return (
    <table class="cmp-pairs" aria-label={title}>
      <caption>{title}</caption>
      <thead>
        <tr>
          <th scope="col">A</th>
          <th scope="col">B</th>
          <th scope="col">Change</th>
        </tr>
      </thead>
      <tbody>
        {Array.from({ length: n }, (_, i) => {
          const same = a[i] === b[i];
          return (
            <tr key={i} data-change={same ? 'same' : 'changed'}>
              <td>{a[i] ?? ''}</td>
              <td>{b[i] ?? ''}</td>
              <td>{same ? 'same' : 'differs'}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function timingLines(flow: FlowDetail): string[] {
  return [...phases(flow.timings).map((p) => `${p.label}: ${formatDuration(p.ms)}`), `total: ${formatDuration(flow.duration)}`];
}

function requestLine(flow: FlowDetail): string {
  return `${flow.request.method} ${flow.request.url} HTTP/${flow.request.httpVersion}`;
}

function statusLine(flow: FlowDetail): string {
  return flow.response ? `${flow.response.status} ${flow.response.statusText}` : flow.error ? `failed: ${flow.error.message}` : flow.state;
}

type Loaded = { state: 'loading' } | { state: 'ok'; a: Side; b: Side } | { state: 'failed'; message: string };

export function ComparePane() {
  const ids = compareIds.value;
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });
  useEffect(() => {
    if (ids === null) return undefined;
    const controller = new AbortController();
    setLoaded({ state: 'loading' });
    Promise.all([loadSide(ids[0], controller.signal), loadSide(ids[1], controller.signal)]).then(
      ([a, b]) => setLoaded({ state: 'ok', a, b }),
      (err: unknown) => {
        if (!(err instanceof DOMException && err.name === 'AbortError')) setLoaded({ state: 'failed', message: err instanceof Error ? err.message : String(err) });
      },
    );
    return () => controller.abort();
  }, [ids?.[0], ids?.[1]]);
  if (ids === null) return null;
  return (
    <section class="detail compare" aria-label="Compare two flows">
      <div class="detail-head">
        <h2 class="detail-title">Compare A and B</h2>
        <button class="icon close" title="Close (Esc)" aria-label="Close comparison" onClick={closeCompare}>
          ×
        </button>
      </div>
      <div class="tab-body">
        {loaded.state === 'loading' ? <p class="muted">Loading…</p> : null}
        {loaded.state === 'failed' ? <p class="banner error">Could not load the flows: {loaded.message}</p> : null}
        {loaded.state === 'ok' ? (
          <>
            <TwoColumns title="Request and status" a={[requestLine(loaded.a.flow), statusLine(loaded.a.flow)]} b={[requestLine(loaded.b.flow), statusLine(loaded.b.flow)]} />
            <HeaderTable title="Request headers" a={loaded.a.flow.request.headers} b={loaded.b.flow.request.headers} />
            <HeaderTable title="Response headers" a={loaded.a.flow.response?.headers ?? []} b={loaded.b.flow.response?.headers ?? []} />
            <BodyDiff title="Request body" a={loaded.a.request} b={loaded.b.request} />
            <BodyDiff title="Response body" a={loaded.a.response} b={loaded.b.response} />
            <TwoColumns title="Timings" a={timingLines(loaded.a.flow)} b={timingLines(loaded.b.flow)} />
            <TwoColumns title="TLS, client leg" a={handshakeLines(loaded.a.flow.tls.client)} b={handshakeLines(loaded.b.flow.tls.client)} />
            <TwoColumns title="TLS, server leg" a={handshakeLines(loaded.a.flow.tls.server)} b={handshakeLines(loaded.b.flow.tls.server)} />
          </>
        ) : null}
      </div>
    </section>
  );
}
