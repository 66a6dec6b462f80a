/**
 * Markdown for the peers table (bench/rounds.ts): one row per target, mitmscope first, direct
 * last as the baseline; medians over rounds with the ratio to direct, the best proxy in each
 * column in bold; then every round's values so the noise is visible.
 */
import { FIGURES, medianOf, speaksH2, type RoundFigures, type RoundScenario, type RoundsRun, type RoundsTarget } from './rounds.js';
import { H2_CONNECTIONS, H2_STREAMS } from './scenarios.js';
import { PATHS } from './upstream.js';

interface Column {
  key: keyof RoundFigures | 'peakRssMiB';
  title: string;
  digits: number;
  /** Whether a larger figure is better. */
  higher: boolean;
  /** Shown as a ratio to direct. */
  ratio: boolean;
  /** The scenario that measures it (peak RSS: every scenario). */
  scenario: RoundScenario | null;
}

const ALL_COLUMNS: readonly Column[] = [
  { key: 'keepAliveRps', title: 'keep-alive 1 KiB req/s', digits: 0, higher: true, ratio: true, scenario: 's1' },
  { key: 'newConnRps', title: 'new connection req/s', digits: 0, higher: true, ratio: true, scenario: 's2' },
  { key: 'mibPerSec', title: '1 MiB bodies MiB/s', digits: 0, higher: true, ratio: true, scenario: 's3' },
  { key: 'firstMs', title: 'first request to a new host, median ms', digits: 2, higher: false, ratio: true, scenario: 's4' },
  { key: 'p50Ms', title: 'keep-alive p50 ms', digits: 2, higher: false, ratio: true, scenario: 's1' },
  { key: 'p99Ms', title: 'keep-alive p99 ms', digits: 2, higher: false, ratio: true, scenario: 's1' },
  { key: 'h2Rps', title: `h2 1 KiB req/s (${H2_CONNECTIONS} conn × ${H2_STREAMS} streams)`, digits: 0, higher: true, ratio: true, scenario: 'h2' },
  { key: 'h2P99Ms', title: 'h2 p99 ms', digits: 2, higher: false, ratio: true, scenario: 'h2' },
  { key: 'peakRssMiB', title: 'peak RSS MiB', digits: 0, higher: false, ratio: false, scenario: null },
  { key: 'cpuKeepAliveUs', title: 'proxy CPU µs / keep-alive request', digits: 0, higher: false, ratio: false, scenario: 's1' },
  { key: 'cpuNewConnUs', title: 'proxy CPU µs / new connection', digits: 0, higher: false, ratio: false, scenario: 's2' },
  { key: 'cpuH2Us', title: 'proxy CPU µs / h2 request', digits: 0, higher: false, ratio: false, scenario: 'h2' },
];

function fmt(x: number | null, digits: number): string {
  return x === null || !Number.isFinite(x) ? '—' : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function value(t: RoundsTarget, c: Column): number | null {
  return c.key === 'peakRssMiB' ? t.peakRssMiB : medianOf(t, c.key);
}

/** What an h2 cell says for a target that did not choose h2 (client leg) in the protocol check. */
function noH2(t: RoundsTarget): string {
  const h2 = t.check?.h2;
  if (!h2) return 'not checked';
  return h2.alpn && h2.alpn !== 'h2' ? `no h2 (ALPN ${h2.alpn})` : 'no h2';
}

/** One line per target: ALPN on the client leg, the protocol and SNI the origin saw (h2 client), and the HTTP/1.1 client's upstream protocol. */
function protocolChecks(run: RoundsRun): string[] {
  return run.targets.map((t) => {
    const c = t.check;
    if (!c) return `- **${t.target.label}**: not checked`;
    if (c.error) return `- **${t.target.label}**: check failed: ${c.error}`;
    const h2 = c.h2;
    const body = (path: string): string | null => h2?.responses.find((r) => r.path === path && r.status === 200)?.body ?? null;
    const h2Part = !h2
      ? 'h2 client: no answer'
      : h2.error
        ? `h2 client: ALPN ${h2.alpn ?? 'none'}, ${h2.error.trim()}`
        : `h2 client: ALPN ${h2.alpn} (${h2.tlsVersion}), origin saw ${body(PATHS.proto) ?? '?'} with SNI ${JSON.stringify(body(PATHS.sni) ?? '?')}`;
    const h1 = c.h1;
    const h1Part = !h1 ? 'HTTP/1.1 client: no answer' : h1.error ? `HTTP/1.1 client: ${h1.error}` : `HTTP/1.1 client (no ALPN): origin saw ${h1.body}`;
    const proxied = t.target.client.connectAuthority !== null;
    const verdict = !speaksH2(c) ? 'no h2' : !proxied ? 'h2' : body(PATHS.proto) === 'HTTP/2.0' ? 'h2 on both legs' : 'h2 on the client leg only';
    return `- **${t.target.label}**: ${verdict} — ${h2Part}; ${h1Part}`;
  });
}

function describeScenarios(only: readonly RoundScenario[]): string {
  const h1 = only.filter((s) => s !== 'h2').map((s) => s.slice(1));
  const parts = h1.length > 0 ? [`scenario${h1.length > 1 ? 's' : ''} ${h1.join(', ')} (HTTP/1.1)`] : [];
  if (only.includes('h2')) parts.push(`the h2 scenario (${H2_CONNECTIONS} connections × ${H2_STREAMS} concurrent streams of GET /1k, ALPN h2 only; targets that do not choose h2 skip it)`);
  return parts.join(' and ');
}

export function renderRounds(run: RoundsRun, ours: string, direct: string): string {
  const COLUMNS = ALL_COLUMNS.filter((c) => c.scenario === null || run.scenarios.includes(c.scenario));
  const base = run.targets.find((t) => t.target.label === direct) ?? null;
  const proxies = run.targets.filter((t) => t.target.label !== direct).sort((a, b) => Number(b.target.label === ours) - Number(a.target.label === ours));
  const best = new Map<Column, number>();
  for (const c of COLUMNS) {
    const vs = proxies.map((t) => value(t, c)).filter((v): v is number => v !== null && Number.isFinite(v));
    if (vs.length > 0) best.set(c, c.higher ? Math.max(...vs) : Math.min(...vs));
  }
  const lines: string[] = [];
  lines.push(`## Peers side by side: median of ${run.rounds} rounds`, '');
  lines.push(
    `Every target started once and kept for all rounds; each round runs ${describeScenarios(run.scenarios)} on each target, the order alternating (round orders: ${run.orders.map((o) => o.join(' → ')).join('; ')}). ` +
      `Timed scenarios: ${run.timing.warmupMs / 1000} s warm-up then ${run.timing.durationMs / 1000} s measured. Ratios (×) are to direct in the same run; the best proxy of each column is in bold.`,
    '',
  );
  lines.push(`| target | ${COLUMNS.map((c) => c.title).join(' | ')} |`, `| --- | ${COLUMNS.map(() => '---').join(' | ')} |`);
  for (const t of [...proxies, ...(base ? [base] : [])]) {
    const cells = COLUMNS.map((c) => {
      if (c.scenario === 'h2' && !speaksH2(t.check)) return noH2(t);
      const v = value(t, c);
      const baseV = base && c.ratio ? value(base, c) : null;
      const r = t !== base && v !== null && baseV ? ` (${(v / baseV).toFixed(2)}×)` : '';
      const text = `${fmt(v, c.digits)}${r}`;
      return t !== base && v !== null && best.get(c) === v ? `**${text}**` : text;
    });
    lines.push(`| ${t.target.label} | ${cells.join(' | ')} |`);
  }
  lines.push('', '### Every round', '', `| target | figure | ${Array.from({ length: run.rounds }, (_, i) => `round ${i + 1}`).join(' | ')} |`, `| --- | --- | ${Array.from({ length: run.rounds }, () => '---').join(' | ')} |`);
  for (const t of run.targets) {
    let shown = 0;
    for (const key of FIGURES) {
      const c = COLUMNS.find((col) => col.key === key);
      if (!c || (c.scenario === 'h2' && !speaksH2(t.check))) continue;
      shown++;
      lines.push(`| ${t.target.label} | ${c.title} | ${t.rounds.map((r) => fmt(r[key], c.digits)).join(' | ')} |`);
    }
    // A target that ran none of the scenarios (no h2 under --h2-only) has no background to show.
    if (shown > 0) lines.push(`| ${t.target.label} | other processes, cores (max over the round) | ${t.rounds.map((r) => r.backgroundCores.toFixed(2)).join(' | ')} |`);
  }
  lines.push('', '### Protocols (checked once before the rounds)', '', ...protocolChecks(run));
  const errors = run.targets.flatMap((t) => t.errors.map((e) => `- ${t.target.label}: ${e}`));
  if (errors.length > 0) lines.push('', '### Errors', '', ...errors);
  lines.push('');
  return lines.join('\n');
}
