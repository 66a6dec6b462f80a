/**
 * Markdown for the peers table (bench/rounds.ts): one row per target, mitmscope first, direct
 * last as the baseline; medians over rounds with the ratio to direct, the best proxy in each
 * column in bold; then every round's values so the noise is visible.
 */
import { FIGURES, medianOf, type RoundFigures, type RoundsRun, type RoundsTarget } from './rounds.js';

interface Column {
  key: keyof RoundFigures | 'peakRssMiB';
  title: string;
  digits: number;
  /** Whether a larger figure is better. */
  higher: boolean;
  /** Shown as a ratio to direct. */
  ratio: boolean;
}

const COLUMNS: readonly Column[] = [
  { key: 'keepAliveRps', title: 'keep-alive 1 KiB req/s', digits: 0, higher: true, ratio: true },
  { key: 'newConnRps', title: 'new connection req/s', digits: 0, higher: true, ratio: true },
  { key: 'mibPerSec', title: '1 MiB bodies MiB/s', digits: 0, higher: true, ratio: true },
  { key: 'firstMs', title: 'first request to a new host, median ms', digits: 2, higher: false, ratio: true },
  { key: 'p50Ms', title: 'keep-alive p50 ms', digits: 2, higher: false, ratio: true },
  { key: 'p99Ms', title: 'keep-alive p99 ms', digits: 2, higher: false, ratio: true },
  { key: 'peakRssMiB', title: 'peak RSS MiB', digits: 0, higher: false, ratio: false },
  { key: 'cpuKeepAliveUs', title: 'proxy CPU µs / keep-alive request', digits: 0, higher: false, ratio: false },
  { key: 'cpuNewConnUs', title: 'proxy CPU µs / new connection', digits: 0, higher: false, ratio: false },
];

function fmt(x: number | null, digits: number): string {
  return x === null || !Number.isFinite(x) ? '—' : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function value(t: RoundsTarget, c: Column): number | null {
  return c.key === 'peakRssMiB' ? t.peakRssMiB : medianOf(t, c.key);
}

export function renderRounds(run: RoundsRun, ours: string, direct: string): string {
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
    `Every target started once and kept for all rounds; each round runs scenarios 1–4 on each target, the order alternating (round orders: ${run.orders.map((o) => o.join(' → ')).join('; ')}). ` +
      `Timed scenarios: ${run.timing.warmupMs / 1000} s warm-up then ${run.timing.durationMs / 1000} s measured. Ratios (×) are to direct in the same run; the best proxy of each column is in bold.`,
    '',
  );
  lines.push(`| target | ${COLUMNS.map((c) => c.title).join(' | ')} |`, `| --- | ${COLUMNS.map(() => '---').join(' | ')} |`);
  for (const t of [...proxies, ...(base ? [base] : [])]) {
    const cells = COLUMNS.map((c) => {
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
    for (const key of FIGURES) {
      const c = COLUMNS.find((col) => col.key === key)!;
      lines.push(`| ${t.target.label} | ${c.title} | ${t.rounds.map((r) => fmt(r[key], c.digits)).join(' | ')} |`);
    }
    lines.push(`| ${t.target.label} | other processes, cores (max over the round) | ${t.rounds.map((r) => r.backgroundCores.toFixed(2)).join(' | ')} |`);
  }
  const errors = run.targets.flatMap((t) => t.errors.map((e) => `- ${t.target.label}: ${e}`));
  if (errors.length > 0) lines.push('', '### Errors', '', ...errors);
  lines.push('');
  return lines.join('\n');
}
