/**
 * WebSocket messages of an upgraded flow: sent or received, time, opcode, size and data — text
 * pretty-printed when it is JSON, binary frames (base64 in the capture) as a hex dump.
 */
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { prettyJson } from './body-format.js';
import { base64ToBytes, formatClock, formatCount, formatSize, hexDump } from './format.js';
import type { WebSocketInfo, WebSocketMessage } from './types.js';

/** Rows rendered before "show more": a chatty socket holds tens of thousands of messages. */
const PAGE = 500;
/** RFC 6455 §11.8. */
const OPCODES: Record<number, string> = { 0: 'continuation', 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' };

type MessageFilter = 'all' | 'send' | 'receive';

function preview(m: WebSocketMessage): string {
  if (m.opcode === 2) return `${formatSize(m.size)} binary`;
  return m.data.length > 120 ? `${m.data.slice(0, 119)}…` : m.data;
}

function MessageBody({ m }: { m: WebSocketMessage }) {
  if (m.opcode === 2) {
    const bytes = base64ToBytes(m.data);
    return <pre class="body-text hex">{bytes ? hexDump(bytes) : m.data}</pre>;
  }
  return <pre class="body-text">{prettyJson(m.data) ?? m.data}</pre>;
}

export function WebSocketView({ ws }: { ws: WebSocketInfo }) {
  const [shown, setShown] = useState<MessageFilter>('all');
  const [open, setOpen] = useState<number | null>(null);
  const [limit, setLimit] = useState(PAGE);
  const indexed = ws.messages.map((m, i) => ({ m, i })).filter(({ m }) => shown === 'all' || m.type === shown);
  const first = ws.messages[0]?.time ?? 0;
  return (
    <div class="websocket">
      <div class="ws-head">
        <div class="segmented" role="group" aria-label="Sent or received">
          {(['all', 'send', 'receive'] as const).map((d) => (
            <button key={d} class={shown === d ? 'active' : ''} aria-pressed={shown === d} onClick={() => setShown(d)}>
              {d === 'all' ? 'All' : d === 'send' ? '↑ Sent' : '↓ Received'}
            </button>
          ))}
        </div>
        <span class="muted">
          {formatCount(indexed.length)} of {formatCount(ws.messages.length)} messages
          {ws.protocol ? ` · protocol ${ws.protocol}` : ''}
          {ws.extensions ? ` · ${ws.extensions}` : ''}
          {ws.closeCode !== null ? ` · closed by ${ws.closedBy ?? '?'} with ${ws.closeCode}${ws.closeReason ? ` (${ws.closeReason})` : ''}` : ''}
        </span>
      </div>
      <table class="ws-messages">
        <thead>
          <tr>
            <th />
            <th>Time</th>
            <th>Opcode</th>
            <th>Size</th>
            <th>Data</th>
          </tr>
        </thead>
        <tbody>
          {indexed.slice(0, limit).map(({ m, i }) => (
            <Fragment key={i}>
              <tr class={`ws-${m.type}${open === i ? ' open' : ''}`} onClick={() => setOpen(open === i ? null : i)}>
                <td class="dir" title={m.type === 'send' ? 'client → server' : 'server → client'}>
                  {m.type === 'send' ? '↑' : '↓'}
                </td>
                <td class="mono" title={`+${((m.time - first) * 1000).toFixed(1)} ms`}>
                  {formatClock(m.time * 1000)}
                </td>
                <td>{OPCODES[m.opcode] ?? m.opcode}</td>
                <td>
                  {formatSize(m.size)}
                  {m.truncated ? ' (cut)' : ''}
                </td>
                <td class="mono preview">{preview(m)}</td>
              </tr>
              {open === i ? (
                <tr class="ws-body">
                  <td colSpan={5}>
                    <MessageBody m={m} />
                  </td>
                </tr>
              ) : null}
            </Fragment>
          ))}
        </tbody>
      </table>
      {indexed.length > limit ? (
        <button class="more" onClick={() => setLimit(limit + PAGE)}>
          Show {Math.min(PAGE, indexed.length - limit)} more
        </button>
      ) : null}
    </div>
  );
}
