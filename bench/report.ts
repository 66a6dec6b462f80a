/**
 * Renders a bench run as Markdown: one table of scenarios × targets with absolute figures, the
 * ratio to direct measured in the same run, and mitmscope's performance goals met or not; then the
 * per-scenario costs and the checks that make the figures trustworthy.
 */
import type { MintBench } from './mint.js';
import type { LoadResult, NamesResult } from './client.js';
import type { FlowsRun, LiveRun, TargetRun, Timing } from './scenarios.js';
import { DISTURBED_CORES, KEEPALIVE_CONNECTIONS, MEDIUM_CONNECTIONS, NEWCONN_CONCURRENCY } from './scenarios.js';
import { backgroundCores, type Segment } from './procs.js';

const MIB = 1024 * 1024;

/**
 * mitmscope's performance goals: throughput as a share of a direct connection (what a user
 * gives up by routing through the proxy), first-request latency as a multiple of direct, and
 * memory bounds that let it run all day on a laptop beside a browser.
 */
export const GOALS = {
  keepAlive: 0.4,
  newConnection: 0.45,
  medium: 0.5,
  firstRequest: 1.5,
  peakRssMiB: 150,
  downloadSpreadMiB: 50,
  flowsRssMiB: 300,
} as const;

export interface Report {
  machine: string;
  timing: Timing;
  origin: string;
  mitmdumpNote: string | null;
  direct: TargetRun;
  mitmscope: TargetRun;
  /** mitmscope with --no-tls-tap (scenarios 1–3), null when the build has no such flag. */
  tapsOff: TargetRun | null;
  /** mitmscope recording with --har (scenarios 1 and 3). */
  harOn: TargetRun | null;
  mitmdump: TargetRun | null;
  live: LiveRun | null;
  flows: FlowsRun | null;
  mint: MintBench | null;
  mintError: string | null;
  /** Machine load seen before each target started. */
  waits: string[];
  seconds: number;
}

function num(x: number | null | undefined, digits = 0): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(x: number | null | undefined, base: number | null | undefined): number | null {
  if (x === null || x === undefined || base === null || base === undefined || !Number.isFinite(x) || !Number.isFinite(base) || base === 0) return null;
  return x / base;
}

function times(r: number | null): string {
  return r === null ? '—' : `${r < 0.1 ? r.toFixed(3) : r.toFixed(2)}×`;
}

function mark(ok: boolean | null): string {
  return ok === null ? '—' : ok ? '✓' : '✗';
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const reqPerSec = (r: LoadResult | null): number | null => (r ? r.requests / r.seconds : null);
const mibPerSec = (r: LoadResult | null): number | null => (r ? r.bodyBytes / MIB / r.seconds : null);
const firstMedian = (r: NamesResult | null): number | null => (r ? median(r.first) : null);
const repeatMedian = (r: NamesResult | null): number | null => (r ? median(r.repeat) : null);

interface Row {
  scenario: string;
  direct: string;
  mitmscope: string;
  msRatio: string;
  goal: string;
  met: string;
  mitmdump: string;
  mdRatio: string;
}

function segment(run: TargetRun | null, prefix: string): TargetRun['segments'][number] | null {
  return run?.segments.find((s) => s.label.startsWith(prefix)) ?? null;
}

function rows(r: Report): Row[] {
  const d = r.direct;
  const m = r.mitmscope;
  const md = r.mitmdump;
  const out: Row[] = [];
  /** A figure for all three targets, its ratios to direct, and a goal on mitmscope's ratio. */
  const compare = (scenario: string, get: (t: TargetRun) => number | null, digits: number, goal: string, test: ((ratio: number) => boolean) | null): void => {
    const dv = get(d);
    const mv = get(m);
    const mdv = md ? get(md) : null;
    const mr = ratio(mv, dv);
    out.push({
      scenario,
      direct: num(dv, digits),
      mitmscope: num(mv, digits),
      msRatio: times(mr),
      goal,
      met: test && mr !== null ? mark(test(mr)) : '',
      mitmdump: md ? num(mdv, digits) : 'not run',
      mdRatio: md ? times(ratio(mdv, dv)) : '',
    });
  };
  /** A figure of the proxies only (direct has no proxy process), with an absolute goal. */
  const absolute = (scenario: string, get: (t: TargetRun) => number | null, digits: number, goal: string, test: ((v: number) => boolean) | null, show: (t: TargetRun, v: number | null) => string = (_t, v) => num(v, digits)): void => {
    const mv = get(m);
    out.push({
      scenario,
      direct: '—',
      mitmscope: show(m, mv),
      msRatio: '',
      goal,
      met: test && mv !== null && Number.isFinite(mv) ? mark(test(mv)) : '',
      mitmdump: md ? show(md, get(md)) : 'not run',
      mdRatio: '',
    });
  };
  compare(`1 · keep-alive 1 KiB, ${KEEPALIVE_CONNECTIONS} connections: req/s`, (t) => reqPerSec(t.s1), 0, `≥ ${GOALS.keepAlive}× direct`, (x) => x >= GOALS.keepAlive);
  compare('1 · … latency p50, ms', (t) => t.s1?.p50 ?? null, 2, '', null);
  compare('1 · … latency p99, ms', (t) => t.s1?.p99 ?? null, 2, '', null);
  const perRequest = (t: TargetRun, key: 's1' | 's2', origin: boolean): number | null => {
    const seg = segment(t, key);
    const load = t[key];
    if (!seg || !load || load.requests === 0) return null;
    // The segment spans warm-up and start-up too: CPU per second of it over requests per second of the window.
    return ((origin ? seg.originCpu : seg.proxyCpu) / seg.seconds / (load.requests / load.seconds)) * 1e6;
  };
  const cpuRow = (key: 's1' | 's2', scenario: string): void => {
    out.push({
      scenario,
      direct: `${num(perRequest(d, key, true))} (origin)`,
      mitmscope: num(perRequest(m, key, false)),
      msRatio: '',
      goal: '',
      met: '',
      mitmdump: md ? num(perRequest(md, key, false)) : 'not run',
      mdRatio: '',
    });
  };
  cpuRow('s1', '1 · … CPU per request of the proxy process, µs (survives a shared machine)');
  compare(`2 · new connection per request (CONNECT + TLS), ${NEWCONN_CONCURRENCY} concurrent: req/s`, (t) => reqPerSec(t.s2), 0, `≥ ${GOALS.newConnection}× direct`, (x) => x >= GOALS.newConnection);
  cpuRow('s2', '2 · … CPU per request of the proxy process, µs');
  compare(`3 · keep-alive 1 MiB, ${MEDIUM_CONNECTIONS} connections: MiB/s`, (t) => mibPerSec(t.s3), 0, `≥ ${GOALS.medium}× direct`, (x) => x >= GOALS.medium);
  compare('4 · first request to a never-seen host (new connection): median ms', (t) => firstMedian(t.s4), 2, `≤ ${GOALS.firstRequest}× direct`, (x) => x <= GOALS.firstRequest);
  compare('4 · repeat on a new connection: median ms', (t) => repeatMedian(t.s4), 2, '', null);
  compare('4 · price of a new host (first − repeat): ms', (t) => {
    const f = firstMedian(t.s4);
    const rep = repeatMedian(t.s4);
    return f === null || rep === null ? null : f - rep;
  }, 2, '', null);
  absolute('5 · peak RSS of the proxy over scenarios 1–4, 6 (VmHWM): MiB', (t) => t.total?.hwmMiB ?? null, 0, `≤ ${GOALS.peakRssMiB} MiB`, (v) => v <= GOALS.peakRssMiB);
  absolute('5 · CPU seconds of the proxy over scenarios 1–4, 6', (t) => t.total?.cpuSeconds ?? null, 1, '', null);
  absolute(
    '6 · 1 GiB streamed download: proxy RSS min–max (spread), MiB',
    (t) => {
      const s = segment(t, 's6');
      return s && t.s6?.complete ? s.rssMaxMiB - s.rssMinMiB : null;
    },
    0,
    `spread ≤ ${GOALS.downloadSpreadMiB} MiB`,
    (v) => v <= GOALS.downloadSpreadMiB,
    (t, v) => {
      const s = segment(t, 's6');
      if (!s || !t.s6) return '—';
      return `${num(s.rssMinMiB)}–${num(s.rssMaxMiB)} (${num(v)})${t.s6.complete ? '' : ` incomplete: ${t.s6.error}`}`;
    },
  );
  compare('6 · … download speed: MiB/s', (t) => (t.s6?.complete ? t.s6.bytes / MIB / t.s6.seconds : null), 0, '', null);
  const f = r.flows;
  out.push({
    scenario: `7 · ${num(r.timing.flows)} small flows stored (keep-alive, ${KEEPALIVE_CONNECTIONS} connections, fresh instance): RSS MiB`,
    direct: '—',
    mitmscope: f ? `${num(f.rssMiB)}${f.stored !== null ? ` (${num(f.stored)} flows, store ${num((f.storeBytes ?? 0) / MIB)} MiB)` : ''}` : 'not run',
    msRatio: '',
    goal: `≤ ${GOALS.flowsRssMiB} MiB`,
    met: f && Number.isFinite(f.rssMiB) ? mark(f.rssMiB <= GOALS.flowsRssMiB) : '',
    mitmdump: md ? 'n/a (keeps no flows)' : 'not run',
    mdRatio: '',
  });
  const l = r.live;
  const offMean = l && l.off.length > 0 ? l.off.reduce((n, x) => n + x.requests / x.seconds, 0) / l.off.length : null;
  const on = reqPerSec(l?.on ?? null);
  out.push({
    scenario: '7 · live feed at full load: scenario 1 req/s with one dashboard websocket ÷ with none (dashboard on)',
    direct: '—',
    mitmscope: l ? `${num(on)} / ${num(offMean)}` : 'not run',
    msRatio: times(ratio(on, offMean)),
    goal: '',
    met: '',
    mitmdump: md ? 'n/a' : 'not run',
    mdRatio: '',
  });
  const off = r.tapsOff;
  /** Taps on (the default) against taps off: the share of throughput observation costs. */
  const tapRow = (scenario: string, get: (t: TargetRun) => number | null, digits: number): void => {
    const on = get(m);
    const offValue = off ? get(off) : null;
    out.push({
      scenario,
      direct: '—',
      mitmscope: off ? `${num(on, digits)} on / ${num(offValue, digits)} off` : 'no --no-tls-tap in this build',
      msRatio: off ? times(ratio(on, offValue)) : '',
      goal: '',
      met: '',
      mitmdump: '',
      mdRatio: '',
    });
  };
  tapRow('taps · keep-alive 1 KiB req/s, handshake observation on (default) / off (`--no-tls-tap`)', (t) => reqPerSec(t.s1), 0);
  tapRow('taps · … CPU per request µs, on / off', (t) => perRequest(t, 's1', false), 0);
  tapRow('taps · new connection per request req/s, on / off', (t) => reqPerSec(t.s2), 0);
  tapRow('taps · … CPU per request µs, on / off', (t) => perRequest(t, 's2', false), 0);
  tapRow('taps · keep-alive 1 MiB MiB/s, on / off', (t) => mibPerSec(t.s3), 0);
  const har = r.harOn;
  /** Recording off (the default) against --har on: what continuous recording costs. */
  const harRow = (scenario: string, get: (t: TargetRun) => number | null, digits: number): void => {
    const offValue = get(m);
    const onValue = har ? get(har) : null;
    out.push({
      scenario,
      direct: '—',
      mitmscope: har ? `${num(offValue, digits)} off / ${num(onValue, digits)} on` : 'not run',
      msRatio: har ? times(ratio(onValue, offValue)) : '',
      goal: '',
      met: '',
      mitmdump: '',
      mdRatio: '',
    });
  };
  harRow('har · keep-alive 1 KiB req/s, without / with `--har FILE`', (t) => reqPerSec(t.s1), 0);
  harRow('har · … CPU per request µs, without / with', (t) => perRequest(t, 's1', false), 0);
  harRow('har · keep-alive 1 MiB MiB/s, without / with', (t) => mibPerSec(t.s3), 0);
  out.push({
    scenario: 'mint · leaf for a new host, in-process (`bench/mint.ts` benchMint): median / p99 ms, the ECDSA leaf alone (clients that accept it) · both leaves',
    direct: '—',
    mitmscope: r.mint ? `${num(r.mint.median, 2)} / ${num(r.mint.p99, 2)} · ${num(r.mint.both.median, 2)} / ${num(r.mint.both.p99, 2)}` : `failed: ${r.mintError ?? '?'}`,
    msRatio: '',
    goal: '',
    met: '',
    mitmdump: '',
    mdRatio: '',
  });
  return out;
}

function table(header: string[], body: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...body.map(line)].join('\n');
}


/** Every measured segment of the run, by target. */
function allSegments(r: Report): { label: string; segment: Segment; load: LoadResult | null }[] {
  const out: { label: string; segment: Segment; load: LoadResult | null }[] = [];
  for (const t of [r.direct, r.mitmscope, r.tapsOff, r.harOn, r.mitmdump].filter((x): x is TargetRun => x !== null)) {
    for (const s of t.segments) {
      const load = s.label.startsWith('s1') ? t.s1 : s.label.startsWith('s2') ? t.s2 : s.label.startsWith('s3') ? t.s3 : null;
      out.push({ label: t.label, segment: s, load });
    }
  }
  if (r.live) {
    const loads = [r.live.off[0] ?? null, r.live.on, r.live.off[1] ?? null];
    r.live.segments.forEach((s, i) => out.push({ label: 'mitmscope + dashboard', segment: s, load: loads[i] ?? null }));
  }
  if (r.flows) for (const s of r.flows.segments) out.push({ label: 'mitmscope (fresh)', segment: s, load: r.flows.load });
  return out;
}

function segmentsTable(r: Report): string {
  const body: string[][] = [];
  for (const { label, segment: s, load: client } of allSegments(r)) {
    const bg = backgroundCores(s);
    body.push([
      label,
      s.label,
      num(s.seconds, 1),
      num(s.proxyCpu / s.seconds, 2),
      num(s.originCpu / s.seconds, 2),
      num(s.clientCpu / s.seconds, 2),
      `${num(bg, 2)}${bg > DISTURBED_CORES ? ' ⚠' : ''}`,
      Number.isFinite(s.rssMinMiB) ? `${num(s.rssMinMiB)}–${num(s.rssMaxMiB)}` : '—',
      num(s.rssEndMiB),
      `${num(s.waitedMs / 1000)} (${num(s.busyBefore, 2)})`,
      client ? `${client.errors}${client.lastError ? ` (${client.lastError})` : ''}` : '',
    ]);
  }
  return table(['target', 'scenario', 'wall s', 'proxy CPU (cores)', 'origin CPU', 'client CPU', 'other processes', 'proxy RSS min–max MiB', 'RSS at end MiB', 'waited for quiet s (busy cores then)', 'errors'], body);
}

/** Scenarios run while other processes used the machine heavily. */
function disturbed(r: Report): string[] {
  const out: string[] = [];
  for (const { label, segment: s } of allSegments(r)) {
    const bg = backgroundCores(s);
    if (bg > DISTURBED_CORES) out.push(`${label} ${s.label} (${bg.toFixed(2)} cores)`);
  }
  return out;
}

function checks(r: Report): string[] {
  const out: string[] = [];
  for (const t of [r.direct, r.mitmscope, r.tapsOff, r.harOn, r.mitmdump].filter((x): x is TargetRun => x !== null)) {
    const p = t.probe;
    const sni = p ? (p.error ? `probe failed: ${p.error}` : `origin saw SNI ${JSON.stringify(p.body)}, client leg ${p.tlsVersion}`) : 'no probe';
    const s4 = t.s4;
    const names = s4 ? `${s4.sniMatched}/${s4.first.length} never-seen names reached the origin with their own SNI` : 'scenario 4 not run';
    const loads = [t.s1, t.s2, t.s3].map((x) => (x ? x.errors : 0)).reduce((a, b) => a + b, 0);
    out.push(`- **${t.label}**: ${sni}; ${names}; ${loads} failed requests in scenarios 1–3${t.errors.length ? `; errors: ${t.errors.join('; ')}` : ''}${s4?.errors.length ? `; scenario 4 errors: ${s4.errors.join('; ')}` : ''}`);
  }
  if (r.live) {
    const l = r.live;
    out.push(`- **live feed**: the websocket client received ${num(l.wsMessages)} messages (${num(l.wsBytes / MIB, 1)} MiB) during the ${r.timing.durationMs / 1000} s window; runs without a client: ${l.off.map((x) => num(x.requests / x.seconds)).join(' and ')} req/s${l.errors.length ? `; errors: ${l.errors.join('; ')}` : ''}`);
  }
  if (r.flows) {
    const f = r.flows;
    out.push(`- **100k flows**: ${num(f.load?.requests)} requests in ${num(f.load?.seconds, 1)} s (${num(f.load ? f.load.requests / f.load.seconds : null)} req/s), ${num(f.load?.errors)} errors; VmHWM ${num(f.hwmMiB)} MiB${f.errors.length ? `; errors: ${f.errors.join('; ')}` : ''}`);
  }
  return out;
}

/** `peers`: the peers table (bench/rounds-report.ts), placed first because it is the headline. */
export function render(r: Report, peers = ''): string {
  const header = ['scenario', 'direct', 'mitmscope', 'mitmscope ÷ direct', 'goal', 'met', 'mitmdump', 'mitmdump ÷ direct'];
  const body = rows(r).map((x) => [x.scenario, x.direct, x.mitmscope, x.msRatio, x.goal, x.met, x.mitmdump, x.mdRatio]);
  return `# mitmscope benchmark — side by side, one run, one machine

${r.machine}

Origin: ${r.origin}. Every target served by that same origin in the same run; ratios are to **direct** (client → origin) measured in this run.

${peers}## mitmscope's goals, single run beside mitmdump

Timed scenarios: ${r.timing.warmupMs / 1000} s warm-up (not counted) then ${r.timing.durationMs / 1000} s measured. Whole run: ${num(r.seconds)} s.

${table(header, body)}

${(() => {
    const d = disturbed(r);
    return d.length ? `⚠ Other processes on this machine were busy during: ${d.join(', ')} — those figures are disturbed; compare them with care.\n` : `No scenario was disturbed by other processes (each under ${DISTURBED_CORES} cores of background load).\n`;
  })()}
## How

- **Load client**: \`dist/bench/client.js\`, a separate Node process per scenario (not a worker thread: on a 2-core machine a separate process lets the kernel schedule client, proxy and origin independently and keeps the client's GC out of the orchestrator). TCP to the target, \`CONNECT 127.0.0.1:<origin port>\` for proxies, TLS inside with SNI = the host name (no session resumption, no certificate checks), hand-written HTTP/1.1 requests, one in flight per connection, responses parsed from the status line and Content-Length or chunked framing.
- **Scenario 2** sends \`Connection: close\`, so every request costs a CONNECT and a client-leg handshake. Direct, it is a fresh handshake with the origin too. mitmdump, mockttp and http-mitm-proxy pass the \`Connection: close\` on and open a new upstream connection for (nearly) every request; mitmscope keeps hop-by-hop fields on their hop (RFC 9110 §7.6.1) and serves the next client's request on its pooled upstream connection (see bench/README.md, levers).
- **Scenario 4**: for each of 20 names (each served by the origin with its own certificate, never seen by the target before), a new connection + request is timed, then a second new connection + request. Both use \`Connection: close\`.
- **mitmscope**: \`node dist/src/cli.js --port 0 --no-ui --ca-dir <tmp> --upstream-ca <origin CA>\` — capture and handshake observation on (defaults). The taps rows use another instance with \`--no-tls-tap\` (TLS then runs on the TCP handle instead of over a JS stream), the live-feed row one with \`--ui-port 0 --token …\`, and scenario 7 a fresh one (dashboard on, no client, used only to read \`/api/status\` after RSS is read).
${r.mitmdumpNote ? `- **mitmdump**: ${r.mitmdumpNote}\n` : ''}- **mockttp** and **http-mitm-proxy** (peers table only): \`dist/bench/peers.js\`, each in its own process, verifying the origin against the origin CA (mockttp \`additionalTrustedCAs\`, http-mitm-proxy an \`https.Agent\` with that CA) with upstream keep-alive on; mockttp records traffic (its default). http-mitm-proxy dials the Host header's name, so the bench points it at the origin's address and keeps the name for SNI.
- **RSS / CPU**: \`/proc/<pid>/status\` VmRSS/VmHWM and \`/proc/<pid>/stat\` utime+stime, sampled every 100 ms.

### Per scenario, proxy process

${segmentsTable(r)}

### Checks

${checks(r).join('\n')}
- **machine before each target**: ${r.waits.join('; ')}
`;
}
