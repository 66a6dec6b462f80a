/**
 * A/B of mitmscope builds (a lever on or off) in one run: each variant is a cli.js path (a copy
 * of dist/ built from another commit) with optional flags, measured in alternating rounds of
 * scenarios 1–4 like the peers table, medians and every round printed.
 *
 *   node dist/bench/ab.js [--rounds 3] [--seconds 5] [--only s1,s3] LABEL=/path/to/dist/src/cli.js[,--flag,...] ...
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { killAllNow, runMain, Sampler } from './procs.js';
import { ROUND_SCENARIOS, runRounds, type RoundScenario } from './rounds.js';
import { renderRounds } from './rounds-report.js';
import type { Target } from './scenarios.js';
import { startMitmscope, type ProxyProcess } from './targets.js';
import { startOrigin } from './upstream.js';

const ROUND_NAMES = 10;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { rounds: { type: 'string' }, seconds: { type: 'string' }, only: { type: 'string' } }, allowPositionals: true });
  const rounds = Number(values.rounds ?? 3);
  const only = values.only ? values.only.split(',').map((name) => {
    if (!(ROUND_SCENARIOS as readonly string[]).includes(name)) throw new Error(`--only: unknown scenario ${name} (one of ${ROUND_SCENARIOS.join(', ')})`);
    return name as RoundScenario;
  }) : ROUND_SCENARIOS;
  const timing = { durationMs: Number(values.seconds ?? 5) * 1000, warmupMs: 1000, flows: 0 };
  const variants = positionals.map((p) => {
    const [label, spec] = p.split('=', 2) as [string, string | undefined];
    if (!spec) throw new Error(`expected LABEL=CLI_PATH[,flags], got ${p}`);
    const [cli, ...flags] = spec.split(',');
    return { label, cli: cli!, flags };
  });
  const root = mkdtempSync(join(tmpdir(), 'mitmscope-ab-'));
  process.on('exit', () => {
    killAllNow();
    rmSync(root, { recursive: true, force: true });
  });
  await mkdir(join(root, 'origin'));
  const origin = await startOrigin(join(root, 'origin'), rounds * ROUND_NAMES, 'ab');
  const proxies: ProxyProcess[] = [];
  const targets: Target[] = [];
  try {
    for (const v of variants) {
      const proxy = await startMitmscope({ caDir: join(root, `ca-${v.label}`), upstreamCa: origin.caFile, dashboardToken: null, cli: v.cli, flags: v.flags });
      proxies.push(proxy);
      targets.push({ label: v.label, client: { port: proxy.port, connectAuthority: `127.0.0.1:${origin.port}` }, sampler: new Sampler(proxy.pid, origin.pid) });
    }
    const before = loadavg()[0]!;
    const names = Array.from({ length: rounds }, (_, r) => origin.names.slice(r * ROUND_NAMES, (r + 1) * ROUND_NAMES));
    const run = await runRounds(targets, origin, timing, names, (line) => process.stderr.write(`${line}\n`), only);
    process.stdout.write(renderRounds(run, variants[0]!.label, 'direct'));
    process.stdout.write(`\nLoad average (1 min) before / after: ${before.toFixed(2)} / ${loadavg()[0]!.toFixed(2)} on ${cpus().length} cores.\n`);
  } finally {
    for (const t of targets) t.sampler.stop();
    await Promise.all(proxies.map((p) => p.close()));
    await origin.close();
  }
}

runMain(main);
