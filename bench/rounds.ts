/**
 * The peers table: direct, mitmscope and the peer proxies measured in rounds within one run.
 * Every target is started once and kept for all rounds; each round runs scenarios 1–4 on every
 * target, the target order alternating between rounds (forward, then reversed) so that no target
 * always goes first on a cold or last on a tired machine. Figures are the median over rounds, and
 * each round's value is kept so the report can show the noise.
 */
import type { LoadResult, NamesResult } from './client.js';
import type { Segment } from './procs.js';
import { runClientProcess, quietMachine, KEEPALIVE_CONNECTIONS, MEDIUM_CONNECTIONS, NEWCONN_CONCURRENCY, type Target, type Timing } from './scenarios.js';
import { PATHS, type Origin } from './upstream.js';

const MIB = 1024 * 1024;
const CLIENT_SLACK_MS = 20_000;
const NAMES_TIMEOUT_MS = 60_000;

/** One target's figures in one round; null where the scenario failed. */
export interface RoundFigures {
  keepAliveRps: number | null;
  newConnRps: number | null;
  mibPerSec: number | null;
  /** Scenario 4: median ms of the first request to each never-seen name. */
  firstMs: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  /** Proxy CPU per request, µs (NaN/null for direct, which has no proxy process). */
  cpuKeepAliveUs: number | null;
  cpuNewConnUs: number | null;
  /** Cores used by processes outside the run during the round's segments (noise indicator). */
  backgroundCores: number;
}

export interface RoundsTarget {
  target: Target;
  /** Peak RSS of the target process (VmHWM) after the last round, MiB; null for direct. */
  peakRssMiB: number | null;
  rounds: RoundFigures[];
  errors: string[];
}

export interface RoundsRun {
  rounds: number;
  timing: Timing;
  /** Label order of each round. */
  orders: string[][];
  targets: RoundsTarget[];
}

export const FIGURES: readonly (keyof Omit<RoundFigures, 'backgroundCores'>)[] = ['keepAliveRps', 'newConnRps', 'mibPerSec', 'firstMs', 'p50Ms', 'p99Ms', 'cpuKeepAliveUs', 'cpuNewConnUs'];

export function median(xs: readonly number[]): number | null {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The median of one figure over a target's rounds. */
export function medianOf(t: RoundsTarget, key: keyof RoundFigures): number | null {
  return median(t.rounds.map((r) => r[key] ?? NaN));
}

const rps = (r: LoadResult): number => r.requests / r.seconds;
const cpuPerRequestUs = (seg: Segment, r: LoadResult): number | null => (Number.isFinite(seg.proxyCpu) && r.requests > 0 ? (seg.proxyCpu / r.requests) * 1e6 : null);
const background = (seg: Segment): number => Math.max(0, (seg.machineCpu - (Number.isFinite(seg.proxyCpu) ? seg.proxyCpu : 0) - seg.originCpu - seg.clientCpu) / seg.seconds);

async function load(t: Target, origin: Origin, timing: Timing, mode: 'keepalive' | 'newconn', path: string, connections: number, label: string): Promise<{ result: LoadResult; segment: Segment }> {
  const spec = { mode, target: t.client, name: origin.defaultName, path, connections, warmupMs: timing.warmupMs, durationMs: timing.durationMs };
  const { value, segment } = await t.sampler.segment(label, () => runClientProcess<LoadResult>(spec, timing.warmupMs + timing.durationMs + CLIENT_SLACK_MS), await quietMachine());
  if (value.requests === 0) throw new Error(`${label}: no request completed (${value.lastError ?? 'no error reported'})`);
  return { result: value, segment };
}

async function oneRound(t: RoundsTarget, origin: Origin, timing: Timing, names: string[], log: (line: string) => void): Promise<RoundFigures> {
  const f: RoundFigures = { keepAliveRps: null, newConnRps: null, mibPerSec: null, firstMs: null, p50Ms: null, p99Ms: null, cpuKeepAliveUs: null, cpuNewConnUs: null, backgroundCores: 0 };
  const label = t.target.label;
  const step = async (what: string, body: () => Promise<Segment>): Promise<void> => {
    try {
      f.backgroundCores = Math.max(f.backgroundCores, background(await body()));
    } catch (err) {
      t.errors.push(`${what}: ${(err as Error).message}`);
      log(`  ${label}: ${what} failed: ${(err as Error).message}`);
    }
  };
  await step('s1', async () => {
    const { result, segment } = await load(t.target, origin, timing, 'keepalive', PATHS.small, KEEPALIVE_CONNECTIONS, 's1');
    f.keepAliveRps = rps(result);
    f.p50Ms = result.p50;
    f.p99Ms = result.p99;
    f.cpuKeepAliveUs = cpuPerRequestUs(segment, result);
    return segment;
  });
  await step('s2', async () => {
    const { result, segment } = await load(t.target, origin, timing, 'newconn', PATHS.small, NEWCONN_CONCURRENCY, 's2');
    f.newConnRps = rps(result);
    f.cpuNewConnUs = cpuPerRequestUs(segment, result);
    return segment;
  });
  await step('s3', async () => {
    const { result, segment } = await load(t.target, origin, timing, 'keepalive', PATHS.medium, MEDIUM_CONNECTIONS, 's3');
    f.mibPerSec = result.bodyBytes / MIB / result.seconds;
    return segment;
  });
  await step('s4', async () => {
    const { value, segment } = await t.target.sampler.segment('s4', () => runClientProcess<NamesResult>({ mode: 'names', target: t.target.client, path: PATHS.sni, names }, NAMES_TIMEOUT_MS), await quietMachine());
    if (value.errors.length > 0) throw new Error(`s4: ${value.errors[0]}`);
    f.firstMs = median(value.first);
    return segment;
  });
  return f;
}

/**
 * Runs `rounds` rounds over already started targets. Round r uses names[r] for scenario 4, so
 * every name is new to every target when it is first asked for.
 */
export async function runRounds(targets: Target[], origin: Origin, timing: Timing, namesPerRound: string[][], log: (line: string) => void): Promise<RoundsRun> {
  const run: RoundsRun = { rounds: namesPerRound.length, timing, orders: [], targets: targets.map((target) => ({ target, peakRssMiB: null, rounds: [], errors: [] })) };
  for (let r = 0; r < run.rounds; r++) {
    const order = r % 2 === 0 ? [...run.targets] : [...run.targets].reverse();
    run.orders.push(order.map((t) => t.target.label));
    for (const t of order) {
      log(`round ${r + 1}/${run.rounds}: ${t.target.label}`);
      t.rounds.push(await oneRound(t, origin, timing, namesPerRound[r]!, log));
    }
  }
  for (const t of run.targets) {
    const reading = t.target.sampler.now();
    t.peakRssMiB = reading ? reading.hwmMiB : null;
  }
  return run;
}
