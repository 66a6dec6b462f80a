/**
 * The flow table, virtualised: rows have a fixed height, so the visible slice is arithmetic and
 * only ~50 rows exist in the DOM whether the list holds 10 or 1,000,000 flows. The header sits
 * inside the scroller (sticky) so its columns line up with the rows past the scrollbar.
 */
import { Component, type VNode } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { pickForCompare } from './compare.js';
import { failedLeg } from './failure.js';
import { tlsNumber } from './filter.js';
import { flows } from './flows.js';
import { formatDuration, formatSize, shortType, splitUrl, statusClass } from './format.js';
import { autoScroll, openFlow, openId, selectedId } from './state.js';
import type { FlowSummary } from './types.js';

/** px; must match `--row-height` in styles.css. */
export const ROW_HEIGHT = 24;
/** Rows rendered above and below the viewport so fast wheel scrolling never shows a gap. */
const OVERSCAN = 6;
const HEADER_HEIGHT = ROW_HEIGHT;

interface RowProps {
  flow: FlowSummary;
  index: number;
  selected: boolean;
  open: boolean;
  /** The list's version: summaries are updated in place, so a changed flow has the same identity. */
  version: number;
}

/**
 * A class for `shouldComponentUpdate`: while scrolling, only rows whose slot now shows another
 * flow re-render; the rest are skipped without a diff.
 */
class Row extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    const p = this.props;
    return next.flow !== p.flow || next.index !== p.index || next.selected !== p.selected || next.open !== p.open || next.version !== p.version;
  }

  override render() {
    const { flow, index, selected, open } = this.props;
    const { origin, path } = splitUrl(flow.url);
    const cls = statusClass(flow.status, flow.error, flow.state);
    const leg = failedLeg(flow.error);
    const status = flow.state === 'paused' ? '⏸' : flow.error !== null && flow.status === null ? (leg ? `✕ ${leg}` : '✕ failed') : flow.status === null ? '…' : String(flow.status);
    const classes = `row st-${cls}${flow.state === 'paused' ? ' paused' : ''}${selected ? ' selected' : ''}${open ? ' open' : ''}${index % 2 === 1 ? ' odd' : ''}`;
    return (
      <div
        class={classes}
        role="row"
        aria-selected={selected}
        aria-rowindex={index + 2}
        data-id={flow.id}
        style={{ transform: `translateY(${index * ROW_HEIGHT}px)` }}
        onClick={(e) => (e.shiftKey ? pickForCompare(flow.id, true) : openFlow(flow.id))}
        // Shift-click picks rows to compare; it must not select their text.
        onMouseDown={(e) => e.shiftKey && e.preventDefault()}
        title={flow.error === null ? undefined : `failed${leg ? ` on the ${leg} leg` : ''}: ${flow.error}`}
      >
        <span class="c-method" role="gridcell">{flow.method}</span>
        <span class="c-host" role="gridcell">{flow.kind === 'tunnel' ? flow.url : origin}</span>
        <span class="c-path" role="gridcell">{flow.kind === 'tunnel' ? '(tunnel)' : path}</span>
        <span class="c-status" role="gridcell">{status}</span>
        <span class="c-type" role="gridcell">{flow.kind === 'websocket' || flow.kind === 'tunnel' ? flow.kind : shortType(flow.contentType)}</span>
        <span class="c-size" role="gridcell">{flow.state === 'pending' && flow.responseSize === 0 ? '' : formatSize(flow.responseSize)}</span>
        <span class="c-time" role="gridcell">{formatDuration(flow.duration)}</span>
        <span class="c-tls" role="gridcell" title={tlsTitle(flow)}>
          {flow.tlsVersion === null ? '' : `${flow.tlsLeg === 'client' ? 'C' : 'S'} ${tlsNumber(flow.tlsVersion)}`}
        </span>
      </div>
    );
  }
}

/** The TLS cell says which leg its version is from (C = client ↔ proxy, S = proxy ↔ server). */
function tlsTitle(flow: FlowSummary): string {
  if (flow.tlsVersion === null) return 'no TLS';
  return `${flow.tlsVersion} on the ${flow.tlsLeg === 'client' ? 'client leg (client ↔ proxy)' : 'server leg (proxy ↔ server)'}`;
}

/** Scrolls `el` the least needed so row `index` is fully visible below the sticky header. */
function revealRow(el: HTMLElement, index: number): void {
  const top = index * ROW_HEIGHT;
  const viewTop = el.scrollTop;
  const viewBottom = viewTop + el.clientHeight - HEADER_HEIGHT;
  if (top < viewTop) el.scrollTop = top;
  else if (top + ROW_HEIGHT > viewBottom) el.scrollTop = top + ROW_HEIGHT - (el.clientHeight - HEADER_HEIGHT);
}

export function FlowTable() {
  const version = flows.version.value;
  const rows = flows.rows;
  const selected = selectedId.value;
  const open = openId.value;
  const follow = autoScroll.value;
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const frame = useRef(0);
  /** Set while we scroll programmatically, so onScroll does not read it as the user leaving the bottom. */
  const programmatic = useRef(false);
  const lastIndex = useRef(-1);

  useEffect(() => {
    const el = scroller.current;
    if (!el) return undefined;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    setHeight(el.clientHeight);
    return () => ro.disconnect();
  }, []);

  // Follow new rows while auto-scroll is on.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el || !follow) return;
    const bottom = el.scrollHeight - el.clientHeight;
    if (Math.abs(el.scrollTop - bottom) > 1) {
      programmatic.current = true;
      el.scrollTop = bottom;
      setScrollTop(el.scrollTop);
    }
  }, [version, follow]);

  // Keep the selected row in view when it moves by keyboard.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el || selected === null) return;
    const index = flows.indexOf(selected, lastIndex.current);
    lastIndex.current = index;
    if (index < 0) return;
    const before = el.scrollTop;
    revealRow(el, index);
    if (el.scrollTop !== before) {
      programmatic.current = true;
      setScrollTop(el.scrollTop);
    }
  }, [selected]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    if (programmatic.current) {
      programmatic.current = false;
    } else if (autoScroll.value && el.scrollTop + el.clientHeight < el.scrollHeight - ROW_HEIGHT) {
      // The user scrolled up to read: stop yanking the list to the bottom.
      autoScroll.value = false;
    }
    if (frame.current !== 0) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      setScrollTop(el.scrollTop);
    });
  };

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
  // DOM rows are recycled by slot: row i lives in slot i % count, and slots keep their DOM order,
  // so scrolling rewrites the text of the rows that came into view and moves no node.
  const count = last - first;
  const visible: VNode[] = [];
  for (let slot = 0; slot < count; slot++) {
    const i = first + ((((slot - first) % count) + count) % count);
    const f = rows[i]!;
    visible.push(<Row key={slot} flow={f} index={i} selected={f.id === selected} open={f.id === open} version={version} />);
  }

  return (
    <div class="flow-table" role="grid" aria-rowcount={rows.length} ref={scroller} onScroll={onScroll} tabIndex={-1}>
      <div class="row head" role="row">
        <span class="c-method" role="columnheader">Method</span>
        <span class="c-host" role="columnheader">Host</span>
        <span class="c-path" role="columnheader">Path</span>
        <span class="c-status" role="columnheader">Status</span>
        <span class="c-type" role="columnheader">Type</span>
        <span class="c-size" role="columnheader">Size</span>
        <span class="c-time" role="columnheader">Time</span>
        <span class="c-tls" role="columnheader">TLS</span>
      </div>
      <div class="rows" style={{ height: `${rows.length * ROW_HEIGHT}px` }}>
        {visible}
      </div>
      {rows.length === 0 ? <EmptyList /> : null}
    </div>
  );
}

function EmptyList() {
  const total = flows.total.value;
  if (total > 0) return <div class="empty">No flow matches the filter.</div>;
  return (
    <div class="empty">
      <p>No flows yet.</p>
      <p class="hint">
        Send traffic through the proxy, e.g. <code>curl --proxy http://127.0.0.1:8080 --cacert ca.pem https://example.com/</code>, or
        import a HAR file.
      </p>
    </div>
  );
}

/** ↑/↓ within the filtered list; returns the new selection. */
export function moveSelection(delta: number): string | null {
  const rows = flows.rows;
  if (rows.length === 0) return null;
  const current = selectedId.value;
  const index = current === null ? -1 : flows.indexOf(current);
  const next = index < 0 ? (delta > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, index + delta));
  const id = rows[next]!.id;
  selectedId.value = id;
  // Moving by keyboard away from the newest row means reading, not tailing.
  if (next < rows.length - 1) autoScroll.value = false;
  return id;
}
