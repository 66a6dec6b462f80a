/**
 * Two or more builds (or a build and a peer) compared in short interleaved slices: every slice
 * runs one scenario for 2 s against each target in turn (order reversed every other slice), and
 * each target's proxy CPU per unit is divided by the first target's in the same slice. This
 * machine's speed drifts by up to 2× within minutes (the same build, the same command: 3,576
 * then 2,007 keep-alive req/s half an hour apart), which swamps `ab.ts`'s 15 s rounds; ratios of
 * neighbouring 2 s slices cancel the drift.
 *
 *   node dist/bench/pairs.js keepalive|newconn|medium SLICES LABEL=CLI[,--flag...]|LABEL=PEER ...
 *
 * PEER is one of the bench's peers (http-mitm-proxy, mockttp). Units: requests, or MiB for medium.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadResult } from './client.js';
import { PEERS, type PeerName } from './peers.js';
import { killAllNow, readProc, runMain } from './procs.js';
import { median } from './rounds.js';
import { runClientProcess } from './scenarios.js';
import { startMitmscope, startPeer, type ProxyProcess } from './targets.js';
import { PATHS, startOrigin } from './upstream.js';

const SLICE_MS = 2000;
const WARMUP_MS = 300;
const MIB = 1024 * 1024;
const MODES = { keepalive: { path: PATHS.small, connections: 16 }, newconn: { path: PATHS.small, connections: 8 }, medium: { path: PATHS.medium, connections: 4 } } as const;
type Mode = keyof typeof MODES;

interface Slot {
  label: string;
  proxy: ProxyProcess;
  rate: number[];
  cpu: number[];
  p99: number[];
}

async function main(): Promise<void> {
  const [modeArg, slicesArg, ...specs] = process.argv.slice(2);
  if (!modeArg || !(modeArg in MODES) || specs.length === 0) throw new Error('usage: pairs.js keepalive|newconn|medium SLICES LABEL=CLI[,flags]|LABEL=PEER ...');
  const mode = modeArg as Mode;
  const slices = Number(slicesArg);
  const root = mkdtempSync(join(tmpdir(), 'mitmscope-pairs-'));
  process.on('exit', () => {
    killAllNow();
    rmSync(root, { recursive: true, force: true });
  });
  await mkdir(join(root, 'origin'));
  const origin = await startOrigin(join(root, 'origin'), 1, 'pairs');
  const slots: Slot[] = [];
  try {
    for (const spec of specs) {
      const [label, what] = spec.split('=', 2) as [string, string | undefined];
      if (!what) throw new Error(`expected LABEL=CLI or LABEL=PEER, got ${spec}`);
      const [cli, ...flags] = what.split(',');
      let proxy: ProxyProcess;
      if ((PEERS as readonly string[]).includes(cli!)) {
        const dir = join(root, `peer-${label}`);
        await mkdir(dir);
        proxy = await startPeer(cli as PeerName, { upstreamCa: origin.caFile, dir, originPort: origin.port });
      } else {
        proxy = await startMitmscope({ caDir: join(root, `ca-${label}`), upstreamCa: origin.caFile, dashboardToken: null, cli: cli!, flags });
      }
      slots.push({ label, proxy, rate: [], cpu: [], p99: [] });
    }
    const { path, connections } = MODES[mode];
    for (let i = 0; i < slices; i++) {
      for (const s of i % 2 === 0 ? slots : [...slots].reverse()) {
        const target = { port: s.proxy.port, connectAuthority: `127.0.0.1:${origin.port}` };
        const before = readProc(s.proxy.pid);
        const spec = { mode: mode === 'medium' ? 'keepalive' : mode, target, name: origin.defaultName, path, connections, warmupMs: WARMUP_MS, durationMs: SLICE_MS } as const;
        const { value } = await runClientProcess<LoadResult>(spec, 60_000);
        const after = readProc(s.proxy.pid);
        const units = mode === 'medium' ? value.bodyBytes / MIB : value.requests;
        if (!before || !after || units === 0) throw new Error(`${s.label}: nothing measured (${value.lastError ?? 'proxy gone'})`);
        // The CPU reading spans the warm-up too: count the units it would have carried at the measured rate.
        const unitsInRun = units * ((value.seconds + WARMUP_MS / 1000) / value.seconds);
        s.rate.push(units / value.seconds);
        s.cpu.push(((after.cpuSeconds - before.cpuSeconds) / unitsInRun) * 1e6);
        s.p99.push(value.p99);
      }
      process.stderr.write(`slice ${i + 1}/${slices}: ${slots.map((s) => `${s.label} ${s.rate.at(-1)!.toFixed(0)}/s ${s.cpu.at(-1)!.toFixed(0)} µs`).join(' · ')}\n`);
    }
    const base = slots[0]!;
    const unit = mode === 'medium' ? 'MiB' : 'request';
    for (const s of slots) {
      const ratios = s.cpu.map((c, i) => c / base.cpu[i]!);
      process.stdout.write(
        `${s.label}: ${mode} ${median(s.rate)!.toFixed(0)} ${mode === 'medium' ? 'MiB' : 'req'}/s, proxy CPU ${median(s.cpu)!.toFixed(0)} µs per ${unit}, p99 ${median(s.p99)!.toFixed(1)} ms; ` +
          `CPU ratio to ${base.label} per slice: median ${median(ratios)!.toFixed(3)} [${ratios.map((r) => r.toFixed(2)).join(' ')}]\n`,
      );
    }
  } finally {
    await Promise.all(slots.map((s) => s.proxy.close()));
    await origin.close();
  }
}

runMain(main);
