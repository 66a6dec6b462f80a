/**
 * The HAR timing phases as a waterfall (segments from phases.ts), with the values in words.
 */
import { formatClock, formatDuration } from './format.js';
import { phases } from './phases.js';
import type { FlowDetail } from './types.js';

export function TimingView({ flow }: { flow: FlowDetail }) {
  const list = phases(flow.timings);
  const total = list.reduce((n, p) => Math.max(n, p.start + p.ms), 0);
  const scale = total > 0 ? 100 / total : 0;
  return (
    <div class="timing">
      <p class="muted">
        Started {formatClock(flow.startedAt)} · total {formatDuration(flow.duration ?? total)}
        {flow.serverIPAddress ? ` · server ${flow.serverIPAddress}` : ''}
      </p>
      {list.length === 0 ? <p class="muted">No timings were recorded.</p> : null}
      <div class="waterfall" role="table" aria-label="Timing phases">
        {list.map((p) => (
          <div class="wf-row" role="row" key={p.key} data-phase={p.key}>
            <span class="wf-label" role="rowheader">
              {p.label}
            </span>
            <span class="wf-track" role="cell">
              <span
                class={`wf-bar ph-${p.key}`}
                style={{ left: `${p.start * scale}%`, width: `max(2px, ${p.ms * scale}%)` }}
                title={`${p.label}: ${formatDuration(p.ms)} (from ${formatDuration(p.start)})`}
              />
            </span>
            <span class="wf-value" role="cell">
              {formatDuration(p.ms)}
            </span>
          </div>
        ))}
      </div>
      {flow.timings.ssl >= 0 && flow.timings.connect >= 0 ? (
        <p class="muted small">
          HAR counts TLS inside connect: connect = {formatDuration(flow.timings.connect)}, of which TLS {formatDuration(flow.timings.ssl)}.
        </p>
      ) : null}
      {flow.timings.connect < 0 && flow.timings.dns < 0 ? <p class="muted small">The upstream connection was reused: no DNS, connect or TLS phase.</p> : null}
    </div>
  );
}
