/**
 * The HTTP/2 frames of one leg, drawn under its TLS ladder: the connection's control frames
 * (preface, SETTINGS and ACKs, PING, RST_STREAM, GOAWAY) in order, WINDOW_UPDATEs counted, and
 * this exchange's stream as HEADERS/DATA timings. Everything is rendered as text. While the
 * connection lives, frames arriving on the live feed are applied to it in place and only this
 * view re-renders; its rows go in fixed blocks, and a full block is never rendered again.
 */
import { Component } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { applyFrames, framesWatch } from './h2-live.js';
import type { Connection, Http2Event, Http2Stream, Http2StreamSide, Sender } from './types.js';

/** Rows per block: a new frame re-renders only the last block. */
const BLOCK_ROWS = 50;

function ms(t: number | null): string {
  return t === null ? '—' : `${t.toFixed(1)} ms`;
}

/** A frame's fields in a few words: settings by name, error codes by name. */
function describe(e: Http2Event): string {
  const d = e.details;
  switch (e.type) {
    case 'SETTINGS': {
      if (d['ack'] === true) return 'ACK';
      const list = Array.isArray(d['settings']) ? (d['settings'] as Array<{ name: string; value: number }>) : [];
      return list.length === 0 ? '(defaults)' : list.map((s) => `${s.name}=${s.value}`).join(' ');
    }
    case 'PING':
      return d['ack'] === true ? 'ACK' : String(d['data'] ?? '');
    case 'RST_STREAM':
      return `stream ${e.stream}: ${String(d['error'])}`;
    case 'GOAWAY':
      return `last stream ${String(d['lastStream'])}: ${String(d['error'])}${d['debug'] ? ` "${String(d['debug'])}"` : ''}`;
    case 'Error':
      return `${String(d['code'])}: ${String(d['reason'])}`;
    case 'PUSH_PROMISE':
      return `stream ${e.stream} promises ${String(d['promised'])}`;
    default:
      return e.stream ? `stream ${e.stream}` : '';
  }
}

function Side({ who, side }: { who: Sender; side: Http2StreamSide | undefined }) {
  if (!side) return null;
  return (
    <tr>
      <td>{who}</td>
      <td>{side.headers.map((t) => ms(t)).join(', ') || '—'}</td>
      <td>
        {side.dataFrames} frames, {side.dataBytes} B ({ms(side.firstData)} → {ms(side.lastData)})
      </td>
      <td>{ms(side.end)}</td>
    </tr>
  );
}

function EventRow({ e }: { e: Http2Event }) {
  return (
    <tr class={e.type === 'GOAWAY' || e.type === 'RST_STREAM' || e.type === 'Error' ? 'h2-bad' : ''} data-h2-type={e.type}>
      <td class="num">{ms(e.t)}</td>
      <td>{e.from}</td>
      <td>{e.type}</td>
      <td>{describe(e)}</td>
    </tr>
  );
}

interface BlockProps {
  events: Http2Event[];
  start: number;
  end: number;
}

/** Rows `start` to `end` of a list that only grows: unchanged bounds render nothing new. */
class EventBlock extends Component<BlockProps> {
  shouldComponentUpdate(next: BlockProps): boolean {
    return next.events !== this.props.events || next.start !== this.props.start || next.end !== this.props.end;
  }

  render({ events, start, end }: BlockProps) {
    const rows = [];
    for (let i = start; i < end; i++) rows.push(<EventRow key={i} e={events[i]!} />);
    return <>{rows}</>;
  }
}

/** Re-renders the caller whenever a live update is applied to the connection (and the flow's streams on it). */
function useLiveFrames(connection: Connection, streams: readonly Http2Stream[]): void {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const h2 = connection.http2;
    if (!h2) return undefined;
    return framesWatch.watch(connection.id, (update) => {
      const applied = applyFrames(h2, streams, update);
      if (applied) setVersion((v) => v + 1);
      return applied;
    });
  }, [connection, streams]);
}

export function H2Frames({ connection, stream, streams }: { connection: Connection; stream: Http2Stream | undefined; streams: readonly Http2Stream[] }) {
  useLiveFrames(connection, streams);
  const h2 = connection.http2;
  if (!h2) return null;
  const blocks = [];
  for (let start = 0; start < h2.events.length; start += BLOCK_ROWS) {
    blocks.push(<EventBlock key={start} events={h2.events} start={start} end={Math.min(start + BLOCK_ROWS, h2.events.length)} />);
  }
  const updates = Object.entries(h2.windowUpdates)
    .map(([who, w]) => `${who}: ${w.frames} (${w.bytes} B)`)
    .join(' · ');
  return (
    <div class="h2-frames" data-h2-leg={connection.side}>
      <h4>HTTP/2 frames</h4>
      <p class="muted">
        {h2.streams} streams on this connection · WINDOW_UPDATE {updates || 'none'}
        {h2.dropped > 0 ? ` · ${h2.dropped} later frames not listed` : ''}
      </p>
      <table class="h2-events">
        <tbody>{blocks}</tbody>
      </table>
      {stream ? (
        <table class="h2-stream">
          <caption>
            Stream {stream.streamId}
            {stream.reset ? ` · reset by ${stream.reset.from} with ${stream.reset.error}` : ''}
          </caption>
          <thead>
            <tr>
              <th>from</th>
              <th>HEADERS</th>
              <th>DATA</th>
              <th>END_STREAM</th>
            </tr>
          </thead>
          <tbody>
            {(['client', 'proxy', 'server'] as const).map((who) => (
              <Side key={who} who={who} side={stream.sides[who]} />
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}
