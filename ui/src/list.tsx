/**
 * The flow table, virtualised: rows have a fixed height, so the visible slice is arithmetic and
 * only ~50 rows exist in the DOM whether the list holds 10 or 1,000,000 flows. The rows come from
 * the list's window (flows.ts), which fetches what the view shows; a row not fetched yet is drawn
 * as an empty placeholder. The header sits inside the scroller (sticky) so its columns line up
 * with the rows past the scrollbar.
 */
import { Component, type VNode } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { pickForCompare } from './compare.js';
import { failedLeg } from './failure.js';
import { columnWidths, gridTemplate } from './columns.js';
import { tlsNumber } from './filter.js';
import { flows } from './flows.js';
import { formatDuration, formatSize, shortType, splitUrl, statusClass } from './format.js';
import { ListHeader } from './list-header.js';
import { scrollMap } from './scroll-map.js';
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
  /** px from the top of the rows' container. */
  top: number;
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
    return next.flow !== p.flow || next.index !== p.index || next.top !== p.top || next.selected !== p.selected || next.open !== p.open || next.version !== p.version;
  }

  override render() {
    const { flow, index, top, selected, open } = this.props;
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
        style={{ transform: `translateY(${top}px)` }}
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

/** A row the window does not hold yet: its slot, empty until the page with it lands. */
function Placeholder({ index, top }: { index: number; top: number }) {
  return <div class={`row loading${index % 2 === 1 ? ' odd' : ''}`} role="row" aria-busy="true" aria-rowindex={index + 2} style={{ transform: `translateY(${top}px)` }} />;
}

/** Rows [first, last) to draw for a view whose top is at virtual px `top`, with the overscan. */
function visibleRows(top: number, height: number, count: number): [number, number] {
  return [Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN), Math.min(count, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN)];
}

/** Scrolls `el` the least needed so row `index` is fully visible below the sticky header. */
function revealRow(el: HTMLElement, index: number, count: number): void {
  const view = el.clientHeight - HEADER_HEIGHT;
  const map = scrollMap(count, ROW_HEIGHT, view);
  const top = index * ROW_HEIGHT;
  const viewTop = map.toVirtual(el.scrollTop);
  if (top < viewTop) el.scrollTop = map.toScroll(top);
  else if (top + ROW_HEIGHT > viewTop + view) el.scrollTop = map.toScroll(top + ROW_HEIGHT - view);
}

export function FlowTable() {
  const version = flows.version.value;
  const count = flows.length;
  const selected = selectedId.value;
  const open = openId.value;
  const follow = autoScroll.value;
  const widths = columnWidths.value;
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
      const before = el.scrollTop;
      programmatic.current = true;
      el.scrollTop = bottom;
      // No scroll event comes when nothing moved: the next scroll is the user's.
      if (el.scrollTop === before) programmatic.current = false;
      setScrollTop(el.scrollTop);
    }
  }, [version, follow]);

  // A new sort shows the top of the newly ordered list.
  const sort = flows.sort.value;
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el || sort === null || el.scrollTop === 0) return;
    programmatic.current = true;
    el.scrollTop = 0;
    setScrollTop(0);
  }, [sort]);

  // Keep the selected row in view when it moves by keyboard.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el || selected === null) return;
    const index = flows.indexOf(selected, lastIndex.current);
    lastIndex.current = index;
    if (index < 0) return;
    const before = el.scrollTop;
    revealRow(el, index, flows.length);
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

  const map = scrollMap(count, ROW_HEIGHT, Math.max(0, height - HEADER_HEIGHT));
  const virtualTop = map.toVirtual(scrollTop);
  const [first, last] = visibleRows(virtualTop, height, count);

  // Ask the window for what is on screen (it fetches only what it lacks). Read from the element:
  // a layout effect above may have just moved it (following the end), and the rows it left are
  // not worth a fetch.
  useEffect(() => {
    const el = scroller.current;
    const at = el ? map.toVirtual(el.scrollTop) : virtualTop;
    const [from, to] = visibleRows(at, height, count);
    flows.ensure(from, to);
  }, [first, last, version]);

  // DOM rows are recycled by slot: row i lives in slot i % count, and slots keep their DOM order,
  // so scrolling rewrites the text of the rows that came into view and moves no node.
  const slots = last - first;
  const visible: VNode[] = [];
  for (let slot = 0; slot < slots; slot++) {
    const i = first + ((((slot - first) % slots) + slots) % slots);
    const f = flows.at(i);
    // Compressed scrolling draws rows relative to the view; uncompressed this is i * ROW_HEIGHT.
    const top = i * ROW_HEIGHT - virtualTop + scrollTop;
    visible.push(f ? <Row key={slot} flow={f} index={i} top={top} selected={f.id === selected} open={f.id === open} version={version} /> : <Placeholder key={slot} index={i} top={top} />);
  }

  return (
    <div class="flow-table" role="grid" aria-rowcount={count} ref={scroller} onScroll={onScroll} tabIndex={-1} style={{ '--cols': gridTemplate(widths) }}>
      <ListHeader />
      <div class="rows" style={{ height: `${map.height}px` }}>
        {visible}
      </div>
      {count === 0 ? <EmptyList /> : null}
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

/**
 * ↑/↓ within the list; returns the new selection. Without one, it starts at the first (↓) or
 * last (↑) row the window holds, so a key press never sends the view across a million rows.
 */
export function moveSelection(delta: number): string | null {
  const count = flows.length;
  if (count === 0) return null;
  const { start, rows } = flows.loaded;
  if (rows.length === 0) return null;
  const current = selectedId.value;
  const index = current === null ? -1 : flows.indexOf(current);
  const next = index < 0 ? (delta > 0 ? start : start + rows.length - 1) : Math.min(count - 1, Math.max(0, index + delta));
  const f = flows.at(next);
  if (!f) {
    // Beyond the window: fetch it; the next key press moves.
    flows.ensure(next, next + 1);
    return null;
  }
  selectedId.value = f.id;
  // Moving by keyboard away from the newest row means reading, not tailing.
  if (next < count - 1) autoScroll.value = false;
  return f.id;
}
