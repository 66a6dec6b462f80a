/**
 * The page: toolbar and filter on top, the flow table, and the detail pane of the open flow
 * below it (full width, so both TLS ladders fit side by side). Owns the global keyboard
 * shortcuts, HAR drag-and-drop and the status poll.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { fetchStatus } from './api.js';
import { CompareHint, ComparePane, closeCompare, compareIds, pickForCompare } from './compare.js';
import { copyMenuRequested } from './copy-menu.js';
import { DetailPane } from './detail.js';
import { flows } from './flows.js';
import { dragHasFiles, importHarFile } from './har-import.js';
import { FlowTable, moveSelection } from './list.js';
import { connection, detailHeight, dismiss, harHealth, notices, openId, passthrough, recording, selectedId, storeUsage } from './state.js';
import { FilterBar, Toolbar } from './toolbar.js';
import { RulesPanel, rulesOpen } from './rules-panel.js';

/** Recording and memory use change slowly; a light poll is simpler than more feed events. */
const STATUS_POLL_MS = 5000;
const STATUS_AFTER_CHANGE_MS = 1000;
const MIN_PANE_PX = 120;

function isTyping(target: EventTarget | null, filter: HTMLInputElement | null): boolean {
  if (!(target instanceof HTMLElement) || target === filter) return false;
  return target.isContentEditable || target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
}

/** Arrow keys and Enter drive the list only from the list, the filter or nowhere in particular. */
function ownsListKeys(target: EventTarget | null, filter: HTMLInputElement | null): boolean {
  if (target === filter || target === document.body || target === null) return true;
  return target instanceof HTMLElement && target.closest('.flow-table') !== null;
}

function useKeyboard(filter: { current: HTMLInputElement | null }): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      const input = filter.current;
      if (e.key === '/' && !isTyping(e.target, input) && e.target !== input) {
        e.preventDefault();
        input?.focus();
        input?.select();
        return;
      }
      if (e.key === 'Escape') {
        if (e.target === input) input?.blur();
        else if (compareIds.value !== null) closeCompare();
        else if (openId.value !== null) openId.value = null;
        return;
      }
      if (e.key === 'x' && !isTyping(e.target, input) && e.target !== input && selectedId.value !== null) {
        // `x` on one row, then on another: compare the two.
        e.preventDefault();
        pickForCompare(selectedId.value, false);
        return;
      }
      if (e.key === 'c' && !isTyping(e.target, input) && e.target !== input && (openId.value ?? selectedId.value) !== null) {
        e.preventDefault();
        openId.value ??= selectedId.value;
        copyMenuRequested.value += 1;
        return;
      }
      if (!ownsListKeys(e.target, input)) return;
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const id = moveSelection(e.key === 'ArrowDown' ? 1 : -1);
        // An open detail follows the selection, as in browser devtools.
        if (id !== null && openId.value !== null) openId.value = id;
      } else if (e.key === 'Enter' && selectedId.value !== null) {
        e.preventDefault();
        openId.value = selectedId.value;
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
}

function useStatusPoll(): void {
  const state = connection.value;
  useEffect(() => {
    let alive = true;
    const poll = () =>
      fetchStatus().then(
        (s) => {
          if (!alive) return;
          recording.value = s.recording;
          harHealth.value = s.har ?? null;
          passthrough.value = s.passthrough ?? [];
          storeUsage.value = { bytes: s.storeBytes, max: s.storeMaxBytes };
          if (s.capture) flows.capture.value = s.capture;
        },
        () => undefined,
      );
    void poll();
    const t = setInterval(poll, STATUS_POLL_MS);
    // Memory use follows the flows: refresh soon after they change, at most once a second.
    let soon: ReturnType<typeof setTimeout> | null = null;
    const off = flows.onChange(() => {
      soon ??= setTimeout(() => {
        soon = null;
        void poll();
      }, STATUS_AFTER_CHANGE_MS);
    });
    return () => {
      alive = false;
      clearInterval(t);
      if (soon !== null) clearTimeout(soon);
      off();
    };
  }, [state]);
}

function useHarDrop(): boolean {
  const [over, setOver] = useState(false);
  useEffect(() => {
    let depth = 0;
    const enter = (e: DragEvent) => {
      if (!dragHasFiles(e)) return;
      depth++;
      setOver(true);
    };
    const leave = () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) setOver(false);
    };
    const overHandler = (e: DragEvent) => {
      if (dragHasFiles(e)) e.preventDefault();
    };
    const drop = (e: DragEvent) => {
      if (!dragHasFiles(e)) return;
      // Without preventDefault the browser would open the dropped file in place of the dashboard.
      e.preventDefault();
      depth = 0;
      setOver(false);
      for (const file of Array.from(e.dataTransfer?.files ?? [])) void importHarFile(file);
    };
    window.addEventListener('dragenter', enter);
    window.addEventListener('dragleave', leave);
    window.addEventListener('dragover', overHandler);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragenter', enter);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('dragover', overHandler);
      window.removeEventListener('drop', drop);
    };
  }, []);
  return over;
}

function Resizer({ main }: { main: { current: HTMLElement | null } }) {
  const onPointerDown = (e: PointerEvent) => {
    const el = main.current;
    if (!el) return;
    e.preventDefault();
    const handle = e.currentTarget as HTMLElement;
    handle.setPointerCapture(e.pointerId);
    const move = (ev: PointerEvent) => {
      const rect = el.getBoundingClientRect();
      const h = Math.round(rect.bottom - ev.clientY);
      detailHeight.value = Math.min(rect.height - MIN_PANE_PX, Math.max(MIN_PANE_PX, h));
    };
    const up = () => {
      handle.removeEventListener('pointermove', move);
      handle.removeEventListener('pointerup', up);
    };
    handle.addEventListener('pointermove', move);
    handle.addEventListener('pointerup', up);
  };
  return <div class="resizer" role="separator" aria-orientation="horizontal" title="Drag to resize" onPointerDown={onPointerDown} onDblClick={() => (detailHeight.value = null)} />;
}

function Notices() {
  const list = notices.value;
  if (list.length === 0) return null;
  return (
    <div class="notices" role="status">
      {list.map((n) => (
        <div key={n.id} class={`notice ${n.kind}`}>
          <span>{n.text}</span>
          {n.action ? (
            <button
              class="btn"
              onClick={() => {
                dismiss(n.id);
                n.action!.run();
              }}
            >
              {n.action.label}
            </button>
          ) : null}
          <button class="icon" aria-label="Dismiss" onClick={() => dismiss(n.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

/** Capture can pause (disk full) while the proxy keeps forwarding: say so where nobody misses it. */
function CaptureBanner() {
  const capture = flows.capture.value;
  if (capture?.state !== 'paused') return <div class="capture-slot" />;
  return (
    <div class="capture-slot">
      <div class="banner error capture-paused" role="alert">
        Capture paused: {capture.reason ?? 'the session cannot be written'}; proxying goes on
      </div>
    </div>
  );
}

export function App() {
  const filterInput = useRef<HTMLInputElement>(null);
  const main = useRef<HTMLElement>(null);
  useKeyboard(filterInput);
  useStatusPoll();
  const dropping = useHarDrop();
  const comparing = compareIds.value !== null;
  const open = openId.value !== null || comparing;
  const height = detailHeight.value;
  // Subscribing here keeps the "no flows" state and the count in step with the list.
  void flows.version.value;
  return (
    <>
      <Toolbar />
      <FilterBar inputRef={filterInput} />
      {rulesOpen.value ? <RulesPanel /> : null}
      <CaptureBanner />
      <main class={`main${open ? ' with-detail' : ''}`} ref={main}>
        <FlowTable />
        {open ? <Resizer main={main} /> : null}
        {open ? (
          <div class="detail-slot" style={height !== null ? { height: `${height}px` } : undefined}>
            {comparing ? <ComparePane /> : <DetailPane />}
          </div>
        ) : null}
      </main>
      {dropping ? <div class="drop-overlay">Drop a HAR file to import it</div> : null}
      <CompareHint />
      <Notices />
    </>
  );
}
