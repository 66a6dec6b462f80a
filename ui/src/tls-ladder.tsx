/**
 * One leg's handshake as a ladder (sequence) diagram: two lifelines, one arrow per event from
 * its sender to its receiver, top to bottom in time order. Vertical spacing grows with the
 * time between events but is clamped, so 0.02 ms apart stays readable and a 2 s stall does not
 * push the rest off screen; the exact offset is printed beside each arrow.
 */
import type { VNode } from 'preact';
import { formatOffset } from './format.js';
import { eventHint, eventLabel, isAlarm, isEncrypted, LEG_SENDERS, SENDER_NAMES } from './tls-words.js';
import { isDecrypted } from './tls-secured.js';
import type { Connection, Handshake, HandshakeEvent, Leg } from './types.js';

const WIDTH = 600;
const TIME_RIGHT = 66;
const LEFT_X = 118;
const RIGHT_X = WIDTH - 88;
const HEAD_HEIGHT = 48;
const FIRST_ARROW_Y = HEAD_HEIGHT + 26;
const ROW_HEIGHT = 30;
const PX_PER_MS = 0.4;
const MAX_EXTRA_GAP = 24;
const ARROW_HEAD = 7;
/** Hints are cut to fit between the lifelines at the diagram's font size. */
const MAX_HINT_CHARS = 40;
/** Column subtitles (address:port) are centred under the column and must not leave the SVG. */
const MAX_SUBTITLE_CHARS = 24;

export interface LadderProps {
  leg: Leg;
  handshake: Handshake;
  connection: Connection | null;
  selected: number | null;
  onSelect: (index: number | null) => void;
}

/** y of each event's arrow. */
export function arrowRows(events: readonly HandshakeEvent[]): number[] {
  const ys: number[] = [];
  for (let i = 0; i < events.length; i++) {
    if (i === 0) {
      ys.push(FIRST_ARROW_Y);
      continue;
    }
    const gap = Math.max(0, events[i]!.t - events[i - 1]!.t);
    ys.push(ys[i - 1]! + ROW_HEIGHT + Math.min(MAX_EXTRA_GAP, gap * PX_PER_MS));
  }
  return ys;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function columnSubtitle(leg: Leg, side: 'left' | 'right', connection: Connection | null): string {
  if (!connection) return '';
  if (leg === 'client' && side === 'left') return `${connection.address}:${connection.port}`;
  if (leg === 'server' && side === 'right') return `${connection.host}:${connection.port}`;
  return '';
}

export function Ladder({ leg, handshake, connection, selected, onSelect }: LadderProps) {
  const [leftSender, rightSender] = LEG_SENDERS[leg];
  const events = handshake.events;
  const ys = arrowRows(events);
  const height = (ys.length > 0 ? ys[ys.length - 1]! : FIRST_ARROW_Y) + ROW_HEIGHT;
  const xOf = (p: string) => (p === leftSender ? LEFT_X : p === rightSender ? RIGHT_X : LEFT_X);
  const mid = (LEFT_X + RIGHT_X) / 2;

  const rows: VNode[] = events.map((e, i) => {
    const y = ys[i]!;
    const fromX = xOf(e.from);
    // A sender outside this leg (should not happen) is drawn left to right.
    const toX = fromX === LEFT_X ? RIGHT_X : LEFT_X;
    const dir = toX > fromX ? 1 : -1;
    const tip = toX - dir * 1;
    const classes = `ev${isAlarm(e) ? ' alarm' : ''}${isEncrypted(e) || isDecrypted(e) ? ' enc' : ''}${isDecrypted(e) ? ' dec' : ''}${selected === i ? ' sel' : ''}`;
    const hint = clip(eventHint(e), MAX_HINT_CHARS);
    const label = eventLabel(e);
    const select = () => onSelect(selected === i ? null : i);
    return (
      <g
        key={i}
        class={classes}
        role="button"
        tabIndex={0}
        data-event={e.type}
        data-index={i}
        data-decrypted={isDecrypted(e) ? 'true' : undefined}
        aria-pressed={selected === i}
        aria-label={`${label} from ${SENDER_NAMES[e.from]} at ${formatOffset(e.t)}${hint ? `: ${hint}` : ''}`}
        onClick={select}
        onKeyDown={(ev) => {
          if (ev.key === 'Enter' || ev.key === ' ') {
            ev.preventDefault();
            select();
          }
        }}
      >
        <rect class="hit" x={0} y={y - ROW_HEIGHT + 8} width={WIDTH} height={ROW_HEIGHT} rx={4} />
        <text class="t" x={TIME_RIGHT} y={y + 4} text-anchor="end">
          {formatOffset(e.t)}
        </text>
        <line class="arrow" x1={fromX} y1={y} x2={tip - dir * ARROW_HEAD} y2={y} />
        <polygon class="head" points={`${tip},${y} ${tip - dir * ARROW_HEAD * 1.6},${y - ARROW_HEAD / 1.4} ${tip - dir * ARROW_HEAD * 1.6},${y + ARROW_HEAD / 1.4}`} />
        <text class="label" x={mid} y={y - 6} text-anchor="middle">
          <tspan class="name">{label}</tspan>
          {hint ? <tspan class="hint">{`  ${hint}`}</tspan> : null}
        </text>
      </g>
    );
  });

  const leftSub = columnSubtitle(leg, 'left', connection);
  const rightSub = columnSubtitle(leg, 'right', connection);
  return (
    <svg
      class="ladder"
      data-leg={leg}
      width={WIDTH}
      height={height}
      viewBox={`0 0 ${WIDTH} ${height}`}
      role="group"
      aria-label={`${SENDER_NAMES[leftSender]} ↔ ${SENDER_NAMES[rightSender]} handshake`}
    >
      <text class="sender" x={LEFT_X} y={18} text-anchor="middle">
        {SENDER_NAMES[leftSender]}
      </text>
      <text class="sender" x={RIGHT_X} y={18} text-anchor="middle">
        {SENDER_NAMES[rightSender]}
      </text>
      {leftSub ? (
        <text class="sender-sub" x={LEFT_X} y={34} text-anchor="middle">
          {clip(leftSub, MAX_SUBTITLE_CHARS)}
        </text>
      ) : null}
      {rightSub ? (
        <text class="sender-sub" x={RIGHT_X} y={34} text-anchor="middle">
          {clip(rightSub, MAX_SUBTITLE_CHARS)}
        </text>
      ) : null}
      <line class="lifeline" x1={LEFT_X} y1={HEAD_HEIGHT - 6} x2={LEFT_X} y2={height - 6} />
      <line class="lifeline" x1={RIGHT_X} y1={HEAD_HEIGHT - 6} x2={RIGHT_X} y2={height - 6} />
      {rows}
    </svg>
  );
}
