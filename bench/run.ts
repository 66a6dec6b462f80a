/**
 * `npm run bench`: the side-by-side benchmark. One run on one machine: an nginx
 * origin, then direct, mitmscope and mitmdump under identical load from a separate client
 * process, figures reported as ratios to direct measured in the same run. Prints a Markdown
 * table and writes it to bench/results/latest.md (only for a run with the default settings).
 *
 *   node dist/bench/run.js [--seconds 10] [--warmup 2] [--flows 100000] [--no-mitmdump] [--out FILE]
 *                          [--rounds 3] [--peers-only] [--h2-only]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import { benchMint, type MintBench } from './mint.js';
import { killAllNow, Sampler } from './procs.js';
import { render, type Report } from './report.js';
import { quietMachine, runFlows, runLive, runTarget, type FlowsRun, type LiveRun, type Target, type TargetRun, type Timing } from './scenarios.js';
import { hasMitmdump, mitmdumpSets, mitmdumpVersion, mitmscopeHasFlag, startMitmdump, startMitmscope, startPeer, type ProxyProcess } from './targets.js';
import { PEERS } from './peers.js';
import { ROUND_SCENARIOS, runRounds, type RoundScenario, type RoundsRun } from './rounds.js';
import { renderRounds } from './rounds-report.js';
import { startOrigin, type Origin } from './upstream.js';

const DEFAULT_TIMING: Timing = { durationMs: 10_000, warmupMs: 2_000, flows: 100_000 };
/** Scenario 4: host names the targets have never seen. */
const NEW_HOSTS = 20;
/** Peers table: rounds (median of at least 3), never-seen names per round, and a shorter window per scenario so five targets × rounds fit in a few minutes. */
const DEFAULT_ROUNDS = 3;
const ROUND_NAMES = 10;
const ROUND_TIMING = { durationMs: 5_000, warmupMs: 1_000 } as const;
const DASHBOARD_TOKEN = 'bench-token';
/** mitmscope's switch that turns handshake observation off (TLS then runs on the TCP handle). */
const NO_TAP_FLAG = '--no-tls-tap';
/** Before each target: wait at most this for a quiet machine (from the run's shared waiting budget). */
const QUIET_MAX_MS = 5_000;
const RESULTS = fileURLToPath(new URL('../../bench/results/latest.md', import.meta.url));

const startedAt = performance.now();
function log(line: string): void {
  process.stderr.write(`[bench ${((performance.now() - startedAt) / 1000).toFixed(0).padStart(3)} s] ${line}\n`);
}

/** Which source was measured: the tree changes under the bench (others work in it), so hash what was built. */
function sourceFingerprint(): string {
  const root = fileURLToPath(new URL('../src/', import.meta.url));
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.js')) hash.update(path.slice(root.length)).update(readFileSync(path));
    }
  };
  try {
    walk(root);
    return `dist/src sha256 ${hash.digest('hex').slice(0, 12)}`;
  } catch {
    return 'dist/src not found';
  }
}

function machineLine(extra: string[]): string {
  let model = 'unknown CPU';
  try {
    model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? model;
  } catch {
    /* not Linux */
  }
  return [`Machine: ${model}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM`, `Node ${process.version}`, ...extra, new Date().toISOString()].join(' · ');
}

function proxied(label: string, proxy: ProxyProcess, origin: Origin): Target {
  return { label, client: { port: proxy.port, connectAuthority: `127.0.0.1:${origin.port}` }, sampler: new Sampler(proxy.pid, origin.pid) };
}

async function withProxy<T>(start: () => Promise<ProxyProcess>, body: (proxy: ProxyProcess) => Promise<T>): Promise<T> {
  const proxy = await start();
  try {
    return await body(proxy);
  } finally {
    await proxy.close();
  }
}

function failedRun(label: string, err: unknown): TargetRun {
  return { label, note: '', probe: null, s1: null, s2: null, s3: null, s4: null, s6: null, segments: [], total: null, errors: [(err as Error).message] };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      flows: { type: 'string' },
      'no-mitmdump': { type: 'boolean' },
      out: { type: 'string' },
      rounds: { type: 'string' },
      'peers-only': { type: 'boolean' },
      'h2-only': { type: 'boolean' },
    },
  });
  const timing: Timing = {
    durationMs: values.seconds ? Number(values.seconds) * 1000 : DEFAULT_TIMING.durationMs,
    warmupMs: values.warmup ? Number(values.warmup) * 1000 : DEFAULT_TIMING.warmupMs,
    flows: values.flows ? Number(values.flows) : DEFAULT_TIMING.flows,
  };
  const rounds = values.rounds ? Number(values.rounds) : DEFAULT_ROUNDS;
  const official = !values.seconds && !values.warmup && !values.flows && !values['no-mitmdump'] && !values.rounds && !values['peers-only'] && !values['h2-only'];
  const out = values.out ?? (official ? RESULTS : null);

  const root = mkdtempSync(join(tmpdir(), 'mitmscope-bench-'));
  const cleanup = (): void => {
    killAllNow();
    rmSync(root, { recursive: true, force: true });
  };
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      log(`${signal}: stopping every child`);
      cleanup();
      process.exit(130);
    });
  }
  const runId = randomBytes(3).toString('hex');
  const sourceAtStart = sourceFingerprint();
  const waits: string[] = [];
  /** Other people's tests share this machine: start each target when it is quiet, or say it was not. */
  const quiet = async (what: string): Promise<void> => {
    const q = await quietMachine(QUIET_MAX_MS, 2);
    const line = `${what}: ${q.busyCores.toFixed(2)} cores busy before start${q.waitedMs > 2500 ? ` after waiting ${(q.waitedMs / 1000).toFixed(0)} s` : ''}`;
    waits.push(line);
    if (q.waitedMs >= QUIET_MAX_MS) log(`machine busy (${line}): starting anyway`);
  };

  log('leaf mint micro-benchmark (in-process, before any load)');
  let mint: MintBench | null = null;
  let mintError: string | null = null;
  try {
    mint = await benchMint();
  } catch (err) {
    mintError = (err as Error).message;
  }

  log('origin: certificates and server');
  const originDir = join(root, 'origin');
  await mkdir(originDir);
  const allOrigin = await startOrigin(originDir, NEW_HOSTS + rounds * ROUND_NAMES, runId);
  // Scenario 4 of the single runs asks for the first NEW_HOSTS names; each round of the peers table for its own ROUND_NAMES.
  const origin: Origin = { ...allOrigin, names: allOrigin.names.slice(0, NEW_HOSTS) };
  const roundNames = Array.from({ length: rounds }, (_, r) => allOrigin.names.slice(NEW_HOSTS + r * ROUND_NAMES, NEW_HOSTS + (r + 1) * ROUND_NAMES));
  const withMitmdump = hasMitmdump() && !values['no-mitmdump'];
  const mdVersion = withMitmdump ? await mitmdumpVersion() : null;

  try {
    const loadBefore = loadavg();
    log(`peers table: ${rounds} rounds`);
    const peersRun = await runPeers(root, origin, { ...timing, ...ROUND_TIMING }, roundNames, withMitmdump, log, values['h2-only'] ? ['h2'] : ROUND_SCENARIOS);
    const peersMarkdown = `${renderRounds(peersRun, 'mitmscope', 'direct')}\nMachine load average (1 min) before / after the peers table: ${loadBefore[0]!.toFixed(2)} / ${loadavg()[0]!.toFixed(2)} on ${cpus().length} cores.\n\n`;
    if (values['peers-only'] || values['h2-only']) {
      process.stdout.write(peersMarkdown);
      if (values.out) await writeFile(values.out, peersMarkdown);
      return;
    }
    log(`direct → ${origin.label} on ${origin.port}`);
    await quiet('direct');
    const direct = await runTarget({ label: 'direct', client: { port: origin.port, connectAuthority: null }, sampler: new Sampler(null, origin.pid) }, origin, timing, '', log);

    await quiet('mitmscope');
    log('mitmscope (--no-ui)');
    const mitmscope = await withProxy(
      () => startMitmscope({ caDir: join(root, 'ca-a'), upstreamCa: origin.caFile, dashboardToken: null }),
      async (proxy) => {
        const target = proxied('mitmscope', proxy, origin);
        const run = await runTarget(target, origin, timing, '', log);
        target.sampler.stop();
        return run;
      },
    ).catch((err: unknown) => failedRun('mitmscope', err));

    let tapsOff: TargetRun | null = null;
    if (mitmscopeHasFlag(NO_TAP_FLAG)) {
      await quiet('mitmscope --no-tls-tap');
      log(`mitmscope ${NO_TAP_FLAG}: the cost of observing handshakes`);
      tapsOff = await withProxy(
        () => startMitmscope({ caDir: join(root, 'ca-notap'), upstreamCa: origin.caFile, dashboardToken: null, flags: [NO_TAP_FLAG] }),
        async (proxy) => {
          const target = proxied(`mitmscope ${NO_TAP_FLAG}`, proxy, origin);
          const run = await runTarget(target, origin, timing, '', log, ['s1', 's2', 's3']);
          target.sampler.stop();
          return run;
        },
      ).catch((err: unknown) => failedRun(`mitmscope ${NO_TAP_FLAG}`, err));
    } else log(`this build has no ${NO_TAP_FLAG}: taps on vs off skipped`);

    await quiet('mitmscope --har');
    log('mitmscope --har: the cost of continuous HAR recording');
    const harOn: TargetRun | null = await withProxy(
      () => startMitmscope({ caDir: join(root, 'ca-har'), upstreamCa: origin.caFile, dashboardToken: null, flags: ['--har', join(root, 'recording.har')] }),
      async (proxy) => {
        const target = proxied('mitmscope --har', proxy, origin);
        const run = await runTarget(target, origin, timing, '', log, ['s1', 's3']);
        target.sampler.stop();
        return run;
      },
    ).catch((err: unknown) => failedRun('mitmscope --har', err));

    let mitmdump: TargetRun | null = null;
    if (withMitmdump) {
      await quiet('mitmdump');
      log(`mitmdump ${mdVersion}`);
      mitmdump = await withProxy(
        () => startMitmdump(join(root, 'mitmdump'), origin.caFile),
        async (proxy) => {
          const target = proxied('mitmdump', proxy, origin);
          const run = await runTarget(target, origin, timing, '', log);
          target.sampler.stop();
          return run;
        },
      ).catch((err: unknown) => failedRun('mitmdump', err));
    }

    await quiet('live feed');
    log('mitmscope with its dashboard: live feed');
    const live: LiveRun | null = await withProxy(
      () => startMitmscope({ caDir: join(root, 'ca-b'), upstreamCa: origin.caFile, dashboardToken: DASHBOARD_TOKEN }),
      async (proxy) => {
        const target = proxied('mitmscope+dashboard', proxy, origin);
        try {
          return await runLive(target, origin, timing, proxy.dashboardUrl!, proxy.token!, log);
        } finally {
          target.sampler.stop();
        }
      },
    ).catch((err: unknown) => ({ off: [], on: null, wsMessages: 0, wsBytes: 0, segments: [], errors: [(err as Error).message] }));

    await quiet('stored flows');
    log('mitmscope, fresh: stored flows');
    const flows: FlowsRun | null = await withProxy(
      () => startMitmscope({ caDir: join(root, 'ca-c'), upstreamCa: origin.caFile, dashboardToken: DASHBOARD_TOKEN }),
      async (proxy) => {
        const target = proxied('mitmscope (flows)', proxy, origin);
        const status = async (): Promise<{ flows: number; storeBytes: number } | null> => {
          const res = await fetch(`${proxy.dashboardUrl}/api/status`, { headers: { authorization: `Bearer ${proxy.token}` } });
          return res.ok ? ((await res.json()) as { flows: number; storeBytes: number }) : null;
        };
        try {
          return await runFlows(target, origin, timing, status, log);
        } finally {
          target.sampler.stop();
        }
      },
    ).catch((err: unknown) => ({ load: null, rssMiB: NaN, hwmMiB: NaN, stored: null, storeBytes: null, segments: [], errors: [(err as Error).message] }));

    const report: Report = {
      machine: machineLine([`load client: separate Node process`, ...(mdVersion ? [`mitmdump ${mdVersion}`] : []), sourceFingerprint() === sourceAtStart ? sourceAtStart : `${sourceAtStart} at start, ${sourceFingerprint()} at the end: someone rebuilt during the run`]),
      timing,
      origin: origin.label,
      mitmdumpNote: withMitmdump
        ? `\`mitmdump --listen-host 127.0.0.1 -p PORT -q ${mitmdumpSets('<tmp>', '<origin CA>').map((s) => `--set ${s}`).join(' ')}\` — verifies the origin like mitmscope does; \`stream_large_bodies=1m\` streams the 1 GiB body instead of buffering it (mitmproxy's default keeps whole bodies in memory). mitmdump keeps no flows in memory, mitmscope keeps every flow for its dashboard.`
        : hasMitmdump()
          ? 'skipped (--no-mitmdump)'
          : 'not installed: column skipped',
      direct,
      mitmscope,
      tapsOff,
      harOn,
      mitmdump,
      live,
      flows,
      mint,
      mintError,
      waits,
      seconds: (performance.now() - startedAt) / 1000,
    };
    const markdown = render(report, peersMarkdown);
    process.stdout.write(markdown);
    if (out) {
      await mkdir(dirname(out), { recursive: true });
      await writeFile(out, markdown);
      log(`written to ${out}`);
    } else {
      log('non-default settings: bench/results/latest.md left as it was (use --out FILE to keep this run)');
    }
  } finally {
    await origin.close();
  }
}

/** Starts direct, mitmscope, mitmdump and the peers, runs the rounds, and stops them all. */
async function runPeers(root: string, origin: Origin, timing: Timing, roundNames: string[][], withMitmdump: boolean, log: (line: string) => void, only: readonly RoundScenario[]): Promise<RoundsRun> {
  const proxies: ProxyProcess[] = [];
  const targets: Target[] = [{ label: 'direct', client: { port: origin.port, connectAuthority: null }, sampler: new Sampler(null, origin.pid) }];
  try {
    const starts: [string, () => Promise<ProxyProcess>][] = [['mitmscope', () => startMitmscope({ caDir: join(root, 'ca-rounds'), upstreamCa: origin.caFile, dashboardToken: null })]];
    if (withMitmdump) starts.push(['mitmdump', () => startMitmdump(join(root, 'mitmdump-rounds'), origin.caFile)]);
    for (const peer of PEERS) {
      const dir = join(root, `peer-${peer}`);
      starts.push([peer, async () => {
        await mkdir(dir, { recursive: true });
        return startPeer(peer, { upstreamCa: origin.caFile, dir, originPort: origin.port });
      }]);
    }
    for (const [label, start] of starts) {
      try {
        const proxy = await start();
        proxies.push(proxy);
        targets.push(proxied(label, proxy, origin));
      } catch (err) {
        log(`${label} did not start: ${(err as Error).message}`);
      }
    }
    return await runRounds(targets, origin, timing, roundNames, log, only);
  } finally {
    for (const t of targets) t.sampler.stop();
    await Promise.all(proxies.map((p) => p.close()));
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
