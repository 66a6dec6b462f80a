/**
 * The peers table: direct, mitmscope and the peer proxies measured in rounds within one run.
 * Every target is started once and kept for all rounds; each round runs scenarios 1–4 and the
 * h2 scenario (many streams over few connections) on every target, the target order alternating between rounds (forward, then reversed) so that no target
 * always goes first on a cold or last on a tired machine. Figures are the median over rounds, and
 * each round's value is kept so the report can show the noise.
 */
import type { LoadResult, NamesResult, ProbeResult } from './client.js';
import type { H2LoadResult, H2ProbeResult } from './h2-client.js';
import type { Segment } from './procs.js';
import { runClientProcess, quietMachine, H2_CONNECTIONS, H2_STREAMS, KEEPALIVE_CONNECTIONS, MEDIUM_CONNECTIONS, NEWCONN_CONCURRENCY, type Target, type Timing } from './scenarios.js';
import { PATHS, type Origin } from './upstream.js';

const MIB = 1024 * 1024;
const CLIENT_SLACK_MS = 20_000;
const NAMES_TIMEOUT_MS = 60_000;
const PROBE_TIMEOUT_MS = 15_000;

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
  /** The h2 scenario: H2_CONNECTIONS connections × H2_STREAMS concurrent streams of GET /1k. */
  h2Rps: number | null;
  h2P99Ms: number | null;
  cpuH2Us: number | null;
  /** Cores used by processes outside the run during the round's segments (noise indicator). */
  backgroundCores: number;
}

/** Which protocols a target used, asked once before the rounds (origin's `/proto` and `/sni`). */
export interface ProtocolCheck {
  /** The h2 client's probe: ALPN on the client leg, then what the origin saw. */
  h2: H2ProbeResult | null;
  /** The HTTP/1.1 client's `/proto`: what reached the origin when the client offered no ALPN. */
  h1: ProbeResult | null;
  error: string | null;
}

/** Whether the h2 scenario can run: the target chose h2 on the client leg. */
export function speaksH2(check: ProtocolCheck | null): boolean {
  return check?.h2?.alpn === 'h2' && check.h2.error === null;
}

export interface RoundsTarget {
  target: Target;
  check: ProtocolCheck | null;
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
  /** The scenarios each round ran. */
  scenarios: readonly RoundScenario[];
  targets: RoundsTarget[];
}

export const FIGURES: readonly (keyof Omit<RoundFigures, 'backgroundCores'>)[] = ['keepAliveRps', 'newConnRps', 'mibPerSec', 'firstMs', 'p50Ms', 'p99Ms', 'cpuKeepAliveUs', 'cpuNewConnUs', 'h2Rps', 'h2P99Ms', 'cpuH2Us'];

/** The scenarios of a round: 1–4 over HTTP/1.1, and h2. */
export type RoundScenario = 's1' | 's2' | 's3' | 's4' | 'h2';
export const ROUND_SCENARIOS: readonly RoundScenario[] = ['s1', 's2', 's3', 's4', 'h2'];

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
/**
 * The proxy's CPU is read over the whole segment (the load client's start, its warm-up, the
 * window, its exit) but requests are counted in the window only: CPU per second of the segment
 * over requests per second of the window, as the goals table does. Dividing the segment's CPU by
 * the window's requests overstated every target by the segment's length over the window's (~1.3×).
 */
const cpuPerRequestUs = (seg: Segment, r: LoadResult | H2LoadResult): number | null =>
  Number.isFinite(seg.proxyCpu) && r.requests > 0 && seg.seconds > 0 ? (seg.proxyCpu / seg.seconds / (r.requests / r.seconds)) * 1e6 : null;
const background = (seg: Segment): number => Math.max(0, (seg.machineCpu - (Number.isFinite(seg.proxyCpu) ? seg.proxyCpu : 0) - seg.originCpu - seg.clientCpu) / seg.seconds);

async function load(t: Target, origin: Origin, timing: Timing, mode: 'keepalive' | 'newconn', path: string, connections: number, label: string): Promise<{ result: LoadResult; segment: Segment }> {
  const spec = { mode, target: t.client, name: origin.defaultName, path, connections, warmupMs: timing.warmupMs, durationMs: timing.durationMs };
  const { value, segment } = await t.sampler.segment(label, () => runClientProcess<LoadResult>(spec, timing.warmupMs + timing.durationMs + CLIENT_SLACK_MS), await quietMachine());
  if (value.requests === 0) throw new Error(`${label}: no request completed (${value.lastError ?? 'no error reported'})`);
  return { result: value, segment };
}

async function oneRound(t: RoundsTarget, origin: Origin, timing: Timing, names: string[], only: readonly RoundScenario[], log: (line: string) => void): Promise<RoundFigures> {
  const f: RoundFigures = { keepAliveRps: null, newConnRps: null, mibPerSec: null, firstMs: null, p50Ms: null, p99Ms: null, cpuKeepAliveUs: null, cpuNewConnUs: null, h2Rps: null, h2P99Ms: null, cpuH2Us: null, backgroundCores: 0 };
  const label = t.target.label;
  const step = async (what: RoundScenario, body: () => Promise<Segment>): Promise<void> => {
    if (!only.includes(what)) return;
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
  // Targets that did not choose h2 in the protocol check have no h2 figures ("no h2" in the table).
  if (speaksH2(t.check)) {
    await step('h2', async () => {
      const spec = { mode: 'h2load', target: t.target.client, name: origin.defaultName, path: PATHS.small, connections: H2_CONNECTIONS, streams: H2_STREAMS, warmupMs: timing.warmupMs, durationMs: timing.durationMs } as const;
      const { value, segment } = await t.target.sampler.segment('h2', () => runClientProcess<H2LoadResult>(spec, timing.warmupMs + timing.durationMs + CLIENT_SLACK_MS), await quietMachine());
      if (value.requests === 0) throw new Error(`h2: no request completed (${value.lastError ?? 'no error reported'})`);
      f.h2Rps = rps(value);
      f.h2P99Ms = value.p99;
      f.cpuH2Us = cpuPerRequestUs(segment, value);
      return segment;
    });
  }
  return f;
}

/** Asks a target once, with each client, which protocol reached the origin (and over h2, which ALPN it chose). */
async function checkProtocols(t: Target, origin: Origin): Promise<ProtocolCheck> {
  const check: ProtocolCheck = { h2: null, h1: null, error: null };
  try {
    check.h2 = (await runClientProcess<H2ProbeResult>({ mode: 'h2probe', target: t.client, name: origin.defaultName, paths: [PATHS.proto, PATHS.sni] }, PROBE_TIMEOUT_MS)).value;
    check.h1 = (await runClientProcess<ProbeResult>({ mode: 'probe', target: t.client, name: origin.defaultName, path: PATHS.proto }, PROBE_TIMEOUT_MS)).value;
  } catch (err) {
    check.error = (err as Error).message;
  }
  return check;
}

/**
 * Runs `rounds` rounds over already started targets. Round r uses names[r] for scenario 4, so
 * every name is new to every target when it is first asked for.
 */
export async function runRounds(targets: Target[], origin: Origin, timing: Timing, namesPerRound: string[][], log: (line: string) => void, only: readonly RoundScenario[] = ROUND_SCENARIOS): Promise<RoundsRun> {
  const run: RoundsRun = { rounds: namesPerRound.length, timing, orders: [], scenarios: only, targets: targets.map((target) => ({ target, check: null, peakRssMiB: null, rounds: [], errors: [] })) };
  for (const t of run.targets) {
    log(`protocol check: ${t.target.label}`);
    t.check = await checkProtocols(t.target, origin);
  }
  for (let r = 0; r < run.rounds; r++) {
    const order = r % 2 === 0 ? [...run.targets] : [...run.targets].reverse();
    run.orders.push(order.map((t) => t.target.label));
    for (const t of order) {
      log(`round ${r + 1}/${run.rounds}: ${t.target.label}`);
      t.rounds.push(await oneRound(t, origin, timing, namesPerRound[r]!, only, log));
    }
  }
  for (const t of run.targets) {
    const reading = t.target.sampler.now();
    t.peakRssMiB = reading ? reading.hwmMiB : null;
  }
  return run;
}
