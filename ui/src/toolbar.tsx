/**
 * The toolbar: live-feed state, recording indicator, pause/auto-scroll/clear, HAR export and
 * import, the CA download, and the filter with its match count.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { CA_URL, clearFlows, clearPassthrough, HAR_URL } from './api.js';
import { flows } from './flows.js';
import { formatCount, formatSize } from './format.js';
import { importHarFile } from './har-import.js';
import { live } from './live.js';
import { deepSearch } from './search.js';
import { autoScroll, connection, filterText, harHealth, notify, openFlow, passthrough, reconnectAt, recording, storeUsage } from './state.js';
import { rulesOpen } from './rules-panel.js';

/** The server runs the filter over the whole session: ask once the typing pauses, not per key. */
const DEBOUNCE_MS = 150;

function LiveState() {
  const state = connection.value;
  const at = reconnectAt.value;
  const [, tick] = useState(0);
  useEffect(() => {
    if (state !== 'reconnecting') return undefined;
    const t = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [state]);
  if (state === 'open') {
    return (
      <span class="conn open" role="status" title="Live feed connected">
        <span class="dot" /> Live
      </span>
    );
  }
  const seconds = at === null ? 0 : Math.max(0, Math.ceil((at - Date.now()) / 1000));
  return (
    <span class={`conn ${state}`} role="status">
      <span class="dot" />
      {state === 'connecting' ? 'Connecting…' : state === 'closed' ? 'Offline' : at !== null && seconds > 0 ? `Reconnecting in ${seconds} s` : 'Reconnecting…'}
      {state === 'reconnecting' ? (
        <button class="link" onClick={() => live.reconnectNow()}>
          retry now
        </button>
      ) : null}
    </span>
  );
}

function Recording() {
  const rec = recording.value;
  if (rec === null) return null;
  const health = harHealth.value;
  const problem = health === null ? null : health.stopped ? 'recording stopped' : health.unmapped > 0 ? `${formatCount(health.unmapped)} not recorded` : null;
  return (
    <span class="rec" title={`Every flow is also written to ${rec.path}`}>
      <span class="dot" /> REC <span class="mono">{rec.path}</span>
      {problem !== null ? (
        <span class="rec-problem" title={health?.lastError ?? problem}>
          · {problem}
        </span>
      ) : null}
    </span>
  );
}

/** Hosts passed through after a client rejected our certificate; clearing intercepts them again. */
function Passthrough() {
  const hosts = passthrough.value;
  if (hosts.length === 0) return null;
  const clear = () => {
    passthrough.value = [];
    clearPassthrough().catch((err: unknown) => notify('error', `Could not clear passthrough: ${err instanceof Error ? err.message : String(err)}`));
  };
  return (
    <span class="passthrough small" title={`Tunnelled untouched (a client rejected the mitmscope certificate): ${hosts.join(', ')}`}>
      Passthrough: <span class="mono">{hosts.join(', ')}</span>{' '}
      <button type="button" class="link" onClick={clear}>
        clear
      </button>
    </span>
  );
}

/** Exchanges held at a breakpoint wait for someone: they must not go unnoticed. */
function Breakpoints() {
  const ids = flows.atBreakpoint.value;
  if (ids.length === 0) return null;
  return (
    <button class="breakpoints" data-testid="paused-count" title="Open the oldest paused exchange" onClick={() => openFlow(ids[0]!, 'request')}>
      {ids.length} paused
    </button>
  );
}

export function Toolbar() {
  const paused = flows.paused.value;
  const held = flows.held.value;
  const follow = autoScroll.value;
  const usage = storeUsage.value;
  const picker = useRef<HTMLInputElement>(null);
  const clear = () => {
    flows.clearLocal();
    clearFlows().catch((err: unknown) => notify('error', `Could not clear: ${err instanceof Error ? err.message : String(err)}`));
  };
  return (
    <header class="toolbar">
      <span class="brand">mitmscope</span>
      <LiveState />
      <Recording />
      <Passthrough />
      <Breakpoints />
      <span class="spacer" />
      {usage ? (
        <span class="muted small" title="Memory used by captured flows">
          {formatSize(usage.bytes)} of {formatSize(usage.max)}
        </span>
      ) : null}
      <button class={paused ? 'active' : ''} aria-pressed={paused} onClick={() => (paused ? flows.resume() : flows.pause())} title="Pause the live list (new flows are kept and shown on resume)">
        {paused ? `Resume${held > 0 ? ` (${formatCount(held)} new)` : ''}` : 'Pause'}
      </button>
      <button class={follow ? 'active' : ''} aria-pressed={follow} onClick={() => (autoScroll.value = !follow)} title="Keep the newest flow in view">
        Auto-scroll
      </button>
      <button onClick={clear} title="Delete every flow from the store">
        Clear
      </button>
      <button class={rulesOpen.value ? 'active' : ''} aria-pressed={rulesOpen.value} onClick={() => (rulesOpen.value = !rulesOpen.value)} title="Rules: pause, answer, rewrite, delay or abort matching traffic">
        Rules
      </button>
      <span class="sep" />
      <button onClick={() => picker.current?.click()} title="Import a HAR file (or drop one on the page)">
        Import HAR
      </button>
      <input
        ref={picker}
        type="file"
        accept=".har,application/json,application/har+json"
        class="hidden"
        aria-label="HAR file to import"
        data-testid="har-input"
        onChange={(e) => {
          const input = e.currentTarget;
          const file = input.files?.[0];
          if (file) void importHarFile(file);
          input.value = '';
        }}
      />
      <a class="btn" href={HAR_URL} download title="Download every flow as HAR 1.2">
        Export HAR
      </a>
      <a class="btn" href={CA_URL} download title="The root CA to trust in your client">
        CA certificate
      </a>
    </header>
  );
}

/** What the server's search of bodies and headers found, in words (a live region). */
function DeepSearchStatus() {
  const search = deepSearch.value;
  if (search === null) return null;
  const text =
    search.state === 'searching'
      ? 'Searching bodies and headers…'
      : search.state === 'failed'
        ? `Search failed: ${search.message}`
        : `${formatCount(search.matched)} ${search.matched === 1 ? 'flow matches' : 'flows match'} in bodies and headers (${formatCount(search.scanned)} searched${search.complete ? '' : ', not all'})`;
  return (
    <span class={`deep-search${search.state === 'failed' ? ' filter-error' : ''}`} role="status" data-testid="deep-search">
      {text}
    </span>
  );
}

export function FilterBar({ inputRef }: { inputRef: { current: HTMLInputElement | null } }) {
  const total = flows.total.value;
  const matched = flows.matched.value;
  const errors = flows.filterErrors.value;
  const text = filterText.value;
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const onInput = (value: string) => {
    filterText.value = value;
    if (timer.current !== null) clearTimeout(timer.current);
    timer.current = setTimeout(() => flows.setFilter(value), DEBOUNCE_MS);
  };
  return (
    <div class="filter-bar">
      <input
        ref={inputRef}
        type="search"
        class="filter"
        placeholder="Filter   host:example.com  status:>=400  method:POST  body:text  header:name=value  -host:cdn   ( / )"
        aria-label="Filter flows"
        spellcheck={false}
        autocomplete="off"
        value={text}
        onInput={(e) => onInput(e.currentTarget.value)}
      />
      <span class="count" data-testid="match-count">
        {text.trim() === '' ? `${formatCount(total)} flows` : `${formatCount(matched)} of ${formatCount(total)}`}
      </span>
      <DeepSearchStatus />
      {errors.length > 0 ? <span class="filter-error">{errors.join(' · ')}</span> : null}
    </div>
  );
}
