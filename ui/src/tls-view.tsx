/**
 * The TLS tab: both legs' ladders side by side (client ↔ mitmscope, mitmscope ↔ server) and,
 * below them, the selected event in words — or both legs at a glance when nothing is selected.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { keylogUrl } from './api.js';
import { formatClock } from './format.js';
import { EventDetails, LegOverview, SecuredPanel } from './tls-details.js';
import { Ladder } from './tls-ladder.js';
import { H2Frames } from './h2-frames.js';
import type { Connection, FlowDetail, Handshake, Http2Stream, Leg } from './types.js';

const NO_STREAMS: readonly Http2Stream[] = [];

interface Selection {
  leg: Leg;
  index: number;
}

function legOf(flow: FlowDetail, leg: Leg): { handshake: Handshake | null; connection: Connection | null } {
  return leg === 'client'
    ? { handshake: flow.tls.client, connection: flow.clientConnection }
    : { handshake: flow.tls.server, connection: flow.serverConnection };
}

function noTlsReason(flow: FlowDetail, leg: Leg, connection: Connection | null): string {
  if (flow.imported) return 'Not in the imported HAR file.';
  if (leg === 'client') return flow.scheme === 'http' || flow.scheme === 'ws' ? 'Plain HTTP: the client did not use TLS to reach mitmscope.' : 'No TLS recorded on this leg.';
  if (connection === null) return flow.error ? `No upstream connection (${flow.error.stage} failed).` : 'No upstream connection was made (yet).';
  return flow.scheme === 'http' || flow.scheme === 'ws' ? 'Plain HTTP to the server: no TLS on this leg.' : 'No TLS recorded on this leg.';
}

function LegColumn({ flow, leg, selection, onSelect }: { flow: FlowDetail; leg: Leg; selection: Selection | null; onSelect: (s: Selection | null) => void }) {
  const { handshake, connection } = legOf(flow, leg);
  const title = leg === 'client' ? 'Client ↔ mitmscope' : `mitmscope ↔ ${connection?.host ?? flow.host}`;
  return (
    <div class={`leg leg-${leg}`} data-leg={leg}>
      <div class="leg-head">
        <h3>{title}</h3>
        {handshake ? (
          <span class="muted">
            {handshake.version ?? 'no version'}
            {handshake.cipher ? ` · ${handshake.cipher.name}` : ''}
            {handshake.resumed ? ' · abbreviated handshake (session resumed)' : ''}
            {connection ? ` · opened ${formatClock(connection.openedAt)}` : ''}
          </span>
        ) : null}
      </div>
      {handshake && handshake.fallback ? <div class="banner warn">TLS 1.3 fallback: {handshake.fallback}</div> : null}
      {handshake && handshake.error ? <div class="banner error">Handshake failed: {handshake.error}</div> : null}
      {handshake && handshake.events.length > 0 ? (
        <div class="ladder-wrap">
          <Ladder
            leg={leg}
            handshake={handshake}
            connection={connection}
            selected={selection?.leg === leg ? selection.index : null}
            onSelect={(index) => onSelect(index === null ? null : { leg, index })}
          />
        </div>
      ) : (
        <p class="muted no-tls">{handshake ? 'No handshake messages recorded.' : noTlsReason(flow, leg, connection)}</p>
      )}
      {connection?.http2 ? <H2Frames connection={connection} stream={flow.http2?.find((s) => s.leg === leg)} streams={flow.http2 ?? NO_STREAMS} /> : null}
    </div>
  );
}

export function TlsView({ flow }: { flow: FlowDetail }) {
  const [selection, setSelection] = useState<Selection | null>(null);
  const details = useRef<HTMLDivElement>(null);
  const chosen = selection ? legOf(flow, selection.leg) : null;
  const event = selection && chosen?.handshake ? chosen.handshake.events[selection.index] : undefined;
  // The ladders fill the pane: bring the clicked message's explanation into view below them.
  useEffect(() => {
    if (selection) details.current?.scrollIntoView({ block: 'nearest' });
  }, [selection?.leg, selection?.index]);
  return (
    <div class="tls">
      <div class="ladders">
        <LegColumn flow={flow} leg="client" selection={selection} onSelect={setSelection} />
        <LegColumn flow={flow} leg="server" selection={selection} onSelect={setSelection} />
      </div>
      <div class="tls-details" ref={details}>
        {event && selection && chosen?.handshake ? (
          <>
            <button class="link" onClick={() => setSelection(null)}>
              ← Both legs at a glance
            </button>
            <EventDetails event={event} leg={selection.leg} handshake={chosen.handshake} connection={chosen.connection} />
          </>
        ) : (
          <>
            <p class="muted hint">
              Click a message on either ladder to see what it says.{' '}
              {flow.imported || !(flow.tls.client?.version || flow.tls.server?.version) ? null : (
                <a class="btn" href={keylogUrl(flow.id)} download title="The TLS secrets of both connections in NSS key log format, for Wireshark">
                  Download key log
                </a>
              )}
            </p>
            <SecuredPanel
              legs={(['client', 'server'] as const).flatMap((leg) => {
                const { handshake, connection } = legOf(flow, leg);
                const title = leg === 'client' ? 'Client ↔ mitmscope' : `mitmscope ↔ ${connection?.host ?? flow.host}`;
                return handshake && handshake.version ? [{ leg, title, handshake }] : [];
              })}
            />
            <div class="overviews">
              {(['client', 'server'] as const).map((leg) => {
                const { handshake, connection } = legOf(flow, leg);
                return handshake ? <LegOverview key={leg} leg={leg} handshake={handshake} connection={connection} /> : null;
              })}
            </div>
          </>
        )}
      </div>
    </div>
  );
}
