/**
 * The HTTP/2 frames of one leg, drawn under its TLS ladder: the connection's control frames
 * (preface, SETTINGS and ACKs, PING, RST_STREAM, GOAWAY) in order, WINDOW_UPDATEs counted, and
 * this exchange's stream as HEADERS/DATA timings. Everything is rendered as text.
 */
import type { Connection, Http2Event, Http2Stream, Http2StreamSide, Sender } from './types.js';

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

export function H2Frames({ connection, stream }: { connection: Connection; stream: Http2Stream | undefined }) {
  const h2 = connection.http2;
  if (!h2) return null;
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
        <tbody>
          {h2.events.map((e, i) => (
            <tr key={i} class={e.type === 'GOAWAY' || e.type === 'RST_STREAM' || e.type === 'Error' ? 'h2-bad' : ''}>
              <td class="num">{ms(e.t)}</td>
              <td>{e.from}</td>
              <td>{e.type}</td>
              <td>{describe(e)}</td>
            </tr>
          ))}
        </tbody>
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
