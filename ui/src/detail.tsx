/**
 * The detail pane of the open flow: fetches the full flow by id (summaries on the live feed
 * carry no headers or handshakes), refetches it while it changes, and hosts the tabs.
 */
import type { VNode } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, fetchFlow, replayFlow } from './api.js';
import { CopyMenu } from './copy-menu.js';
import { flows } from './flows.js';
import { formatClock, formatDuration, statusClass } from './format.js';
import { MessageView } from './message.js';
import { detailTab, notify, openFlow, openId, type DetailTab } from './state.js';
import { TimingView } from './timing.js';
import { TlsView } from './tls-view.js';
import type { FlowDetail } from './types.js';
import { WebSocketView } from './websocket.js';
import { ExchangeEditor } from './editor.js';

/** A flow being captured changes many times a second; refetch it at most this often. */
const REFETCH_MS = 400;

type Loaded = { state: 'loading' } | { state: 'ok'; flow: FlowDetail } | { state: 'gone' } | { state: 'failed'; message: string };

function useFlowDetail(id: string): Loaded {
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });
  const lastFetch = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const connections = useRef<string[]>([]);

  useEffect(() => {
    let alive = true;
    let controller: AbortController | null = null;
    setLoaded({ state: 'loading' });
    const load = () => {
      timer.current = null;
      lastFetch.current = Date.now();
      controller?.abort();
      controller = new AbortController();
      fetchFlow(id, controller.signal).then(
        (flow) => {
          if (!alive) return;
          connections.current = [flow.clientConnection?.id, flow.serverConnection?.id].filter((c): c is string => typeof c === 'string');
          setLoaded({ state: 'ok', flow });
        },
        (err: unknown) => {
          if (!alive || (err instanceof DOMException && err.name === 'AbortError')) return;
          if (err instanceof ApiError && err.status === 404) setLoaded({ state: 'gone' });
          else setLoaded({ state: 'failed', message: err instanceof Error ? err.message : String(err) });
        },
      );
    };
    load();
    const off = flows.onChange((changes) => {
      const mine = changes.everything || changes.changed.has(id) || connections.current.some((c) => changes.tlsConnections.has(c));
      if (!mine || timer.current !== null) return;
      timer.current = setTimeout(load, Math.max(0, lastFetch.current + REFETCH_MS - Date.now()));
    });
    return () => {
      alive = false;
      off();
      controller?.abort();
      if (timer.current !== null) clearTimeout(timer.current);
      timer.current = null;
    };
  }, [id]);
  return loaded;
}

const TABS: readonly { tab: DetailTab; label: string }[] = [
  { tab: 'request', label: 'Request' },
  { tab: 'response', label: 'Response' },
  { tab: 'timing', label: 'Timing' },
  { tab: 'tls', label: 'TLS' },
  { tab: 'websocket', label: 'WebSocket' },
];

function Header({ flow }: { flow: FlowDetail }) {
  const status = flow.response?.status ?? null;
  const cls = statusClass(status, flow.error ? flow.error.message : null, flow.state);
  return (
    <div class="detail-title">
      <span class="method">{flow.request.method}</span>
      <span class="url" title={flow.request.url}>
        {flow.request.url}
      </span>
      <span class={`status st-${cls}`}>{status === null ? (flow.error ? 'failed' : flow.state) : `${status} ${flow.response?.statusText ?? ''}`}</span>
      <span class="muted">
        {formatClock(flow.startedAt)} · {formatDuration(flow.duration)}
        {flow.imported ? ' · imported' : ''}
      </span>
    </div>
  );
}

export function DetailPane() {
  const id = openId.value;
  if (id === null) return null;
  return <OpenFlow key={id} id={id} />;
}

function OpenFlow({ id }: { id: string }) {
  const loaded = useFlowDetail(id);
  const tab = detailTab.value;
  const close = (
    <button class="icon close" title="Close (Esc)" aria-label="Close detail" onClick={() => (openId.value = null)}>
      ×
    </button>
  );
  if (loaded.state !== 'ok') {
    const text =
      loaded.state === 'loading' ? 'Loading…' : loaded.state === 'gone' ? 'This flow is no longer in the store (cleared or evicted).' : `Could not load the flow: ${loaded.message}`;
    return (
      <section class="detail" aria-label="Flow detail">
        <div class="detail-head">
          <div class="detail-title muted">{text}</div>
          {close}
        </div>
      </section>
    );
  }
  const flow = loaded.flow;
  return <FlowView flow={flow} tab={tab} close={close} />;
}

/** Resend as captured, or open the editor to change the request first. */
function ResendButtons({ flow, onEdit }: { flow: FlowDetail; onEdit: () => void }) {
  if (flow.kind !== 'http') return null;
  const resend = () =>
    replayFlow(flow.id).then(
      ({ id }) => openFlow(id, 'response'),
      (err: unknown) => notify('error', `Could not resend: ${err instanceof Error ? err.message : String(err)}`),
    );
  return (
    <span class="detail-actions">
      <button type="button" onClick={() => void resend()} title="Send this request again through the proxy">
        Resend
      </button>
      <button type="button" onClick={onEdit} title="Change the request, then send it">
        Edit and resend
      </button>
    </span>
  );
}

function FlowView({ flow, tab, close }: { flow: FlowDetail; tab: DetailTab; close: VNode }) {
  const [resending, setResending] = useState(false);
  const tabs = TABS.filter((t) => t.tab !== 'websocket' || flow.websocket !== null);
  const active = tabs.some((t) => t.tab === tab) ? tab : 'request';
  return (
    <section class="detail" aria-label="Flow detail">
      <div class="detail-head">
        <Header flow={flow} />
        <ResendButtons flow={flow} onEdit={() => setResending(!resending)} />
        <CopyMenu flow={flow} />
        {close}
      </div>
      {flow.state === 'paused' && flow.paused !== null ? (
        <div class="paused-editor">
          <div class="banner warn" role="alert">
            Paused at the {flow.paused}: nothing of it has reached the {flow.paused === 'request' ? 'server' : 'client'} yet.
          </div>
          <ExchangeEditor key={`${flow.id}-${flow.paused}`} flow={flow} mode={flow.paused} />
        </div>
      ) : null}
      {resending ? <ExchangeEditor key={`${flow.id}-resend`} flow={flow} mode="resend" onDone={() => setResending(false)} /> : null}
      {flow.replayOf !== null ? (
        <p class="muted small pad">
          Resent from{' '}
          <button type="button" class="link" onClick={() => openFlow(flow.replayOf!)}>
            an earlier flow
          </button>
        </p>
      ) : null}
      <div class="tabs" role="tablist">
        {tabs.map((t) => (
          <button
            key={t.tab}
            role="tab"
            class={`tab${t.tab === active ? ' active' : ''}`}
            aria-selected={t.tab === active}
            data-tab={t.tab}
            onClick={() => (detailTab.value = t.tab)}
          >
            {t.label}
            {t.tab === 'websocket' && flow.websocket ? <span class="badge">{flow.websocket.messages.length}</span> : null}
          </button>
        ))}
      </div>
      <div class="tab-body" role="tabpanel">
        {flow.error ? (
          <div class="banner error" role="alert">
            <strong>Failed during {flow.error.stage}</strong>: {flow.error.message} <code>{flow.error.code}</code>
          </div>
        ) : null}
        {flow.notes.length > 0 ? (
          <ul class="notes">
            {flow.notes.map((n, i) => (
              <li key={i}>{n}</li>
            ))}
          </ul>
        ) : null}
        {active === 'request' ? <MessageView flow={flow} side="request" /> : null}
        {active === 'response' ? <MessageView flow={flow} side="response" /> : null}
        {active === 'timing' ? <TimingView flow={flow} /> : null}
        {active === 'tls' ? <TlsView flow={flow} /> : null}
        {active === 'websocket' && flow.websocket ? <WebSocketView ws={flow.websocket} /> : null}
      </div>
    </section>
  );
}
