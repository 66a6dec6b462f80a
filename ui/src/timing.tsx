/**
 * The HAR timing phases as a waterfall (segments from phases.ts), with the values in words. A
 * failed flow shows only the phases that ran, the failing one marked in text and shape as well
 * as colour.
 */
import { failedPhase, legOfStage } from './failure.js';
import { formatClock, formatDuration } from './format.js';
import { phases } from './phases.js';
import type { FlowDetail } from './types.js';

export function TimingView({ flow }: { flow: FlowDetail }) {
  const list = phases(flow.timings);
  const total = list.reduce((n, p) => Math.max(n, p.start + p.ms), 0);
  const scale = total > 0 ? 100 / total : 0;
  const failure = flow.error;
  const failed = failure ? failedPhase(list, failure.stage) : null;
  const failedRow = list.find((p) => p.key === failed);
  const leg = failure ? legOfStage(failure.stage) : null;
  // A pooled connection was reused only when the flow got a server connection without opening one.
  const reused = flow.serverConnection !== null && flow.timings.connect < 0 && !flow.imported;
  return (
    <div class="timing">
      <p class="muted">
        Started {formatClock(flow.startedAt)} · total {formatDuration(flow.duration ?? total)}
        {flow.serverIPAddress ? ` · server ${flow.serverIPAddress}` : ''}
      </p>
      {list.length === 0 ? (
        <p class="muted">{failure ? `No phase of the exchange ran: it failed during ${failure.stage}${leg ? ` on the ${leg} leg` : ''}.` : 'No timings were recorded.'}</p>
      ) : null}
      <div class="waterfall" role="table" aria-label="Timing phases">
        {list.map((p) => {
          const isFailed = p.key === failed;
          return (
            <div class={`wf-row${isFailed ? ' wf-failed' : ''}`} role="row" key={p.key} data-phase={p.key} data-failed={isFailed ? 'true' : undefined}>
              <span class="wf-label" role="rowheader">
                {isFailed ? <span aria-hidden="true">✕ </span> : null}
                {p.label}
                {isFailed ? ' (failed)' : ''}
              </span>
              <span class="wf-track" role="cell">
                <span
                  class={`wf-bar ph-${p.key}${isFailed ? ' failed' : ''}`}
                  style={{ left: `${p.start * scale}%`, width: `max(2px, ${p.ms * scale}%)` }}
                  title={`${p.label}${isFailed ? ' failed' : ''}: ${formatDuration(p.ms)} (from ${formatDuration(p.start)})`}
                />
              </span>
              <span class="wf-value" role="cell">
                {formatDuration(p.ms)}
              </span>
            </div>
          );
        })}
      </div>
      {failure && failedRow ? (
        <p class="wf-reason">
          ✕ {failedRow.label} failed after {formatDuration(failedRow.ms)}: {failure.message}
        </p>
      ) : null}
      {flow.timings.ssl >= 0 && flow.timings.connect >= 0 ? (
        <p class="muted small">
          HAR counts TLS inside connect: connect = {formatDuration(flow.timings.connect)}, of which TLS {formatDuration(flow.timings.ssl)}.
        </p>
      ) : null}
      {reused ? <p class="muted small">The upstream connection was reused: no DNS, connect or TLS phase.</p> : null}
    </div>
  );
}
