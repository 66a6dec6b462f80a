/**
 * Where mitmscope's memory goes under each scenario: one mitmscope child, scenarios 1–3, 6 and h2 in
 * turn, and after each the proxy's RSS, peak RSS (VmHWM) and its own breakdown (V8 heap used and
 * total, external and array buffers), which the child prints to stderr every 250 ms through a
 * preloaded module. Extra node flags and mitmscope flags can be passed to compare settings.
 *
 * With `--snapshots DIR` a V8 heap snapshot of the proxy is written to DIR at start and after each
 * scenario (open them in Chrome DevTools' Memory tab).
 *
 *   node dist/bench/memory.js [seconds] [--node-arg FLAG]... [--flag FLAG]... [--snapshots DIR] [--only s1,s3]
 *                             [--cli PATH]   (another build's dist/src/cli.js)
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ClientSpec, DownloadResult, LoadResult } from './client.js';
import { killAllNow, readProc } from './procs.js';
import type { H2Spec } from './h2-client.js';
import { H2_CONNECTIONS, H2_STREAMS, KEEPALIVE_CONNECTIONS, MEDIUM_CONNECTIONS, NEWCONN_CONCURRENCY, runClientProcess } from './scenarios.js';
import { startMitmscope } from './targets.js';
import { PATHS, startOrigin } from './upstream.js';

/** Preloaded into the proxy: prints its memory breakdown as one JSON line every 250 ms. */
const REPORTER = `
import v8 from 'node:v8';
const t = setInterval(() => {
  const m = process.memoryUsage();
  m.newSpace = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
  process.stderr.write('MEM ' + JSON.stringify(m) + '\\n');
}, 250);
t.unref();
`;

interface Breakdown {
  rss: number;
  newSpace: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

const MiB = 2 ** 20;

/** RSS of the process's mappings from /proc/PID/smaps: anonymous vs file-backed, and the largest. */
function mappings(pid: number): string {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return '?';
  }
  const maps: { name: string; rss: number; anon: number }[] = [];
  let current: { name: string; rss: number; anon: number } | null = null;
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      current = { name: head[1] || '[anon]', rss: 0, anon: 0 };
      maps.push(current);
      continue;
    }
    const kv = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line);
    if (kv && current) current[kv[1] === 'Rss' ? 'rss' : 'anon'] += Number(kv[2]) / 1024;
  }
  const byName = new Map<string, number>();
  for (const m of maps) byName.set(m.name, (byName.get(m.name) ?? 0) + m.rss);
  const anon = maps.reduce((a, m) => a + m.anon, 0);
  const rss = maps.reduce((a, m) => a + m.rss, 0);
  const top = [...byName].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([n, r]) => `${n.split('/').pop()} ${r.toFixed(0)}`);
  return `anon ${anon.toFixed(0)} of ${rss.toFixed(0)}; ${top.join(', ')}`;
}

function lastBreakdown(output: string): Breakdown | null {
  const lines = output.split('\n').filter((l) => l.startsWith('MEM '));
  const last = lines.at(-1);
  return last ? (JSON.parse(last.slice(4)) as Breakdown) : null;
}

function maxOf(output: string, key: keyof Breakdown): number {
  let max = 0;
  for (const l of output.split('\n')) if (l.startsWith('MEM ')) max = Math.max(max, (JSON.parse(l.slice(4)) as Breakdown)[key]);
  return max;
}

/** Asks the proxy for a heap snapshot and waits until the file is complete (its size settles). */
async function writeSnapshot(pid: number, dir: string): Promise<void> {
  const known = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  let file: string | undefined;
  let size = -1;
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    file ??= readdirSync(dir).find((f) => !known.has(f) && f.endsWith('.heapsnapshot'));
    if (!file) continue;
    const now = statSync(join(dir, file)).size;
    if (now > 0 && now === size) break;
    size = now;
  }
  console.log(`heap snapshot: ${join(dir, file)}`);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { 'node-arg': { type: 'string', multiple: true }, flag: { type: 'string', multiple: true }, snapshots: { type: 'string' }, only: { type: 'string' }, cli: { type: 'string' } },
  });
  const seconds = Number(positionals[0] ?? 8);
  const root = mkdtempSync(join(tmpdir(), 'mitmscope-memory-'));
  process.on('exit', () => {
    killAllNow();
    rmSync(root, { recursive: true, force: true });
  });
  process.on('SIGINT', () => process.exit(130));
  const reporter = join(root, 'reporter.mjs');
  writeFileSync(reporter, REPORTER);
  const snapshots = values.snapshots;
  if (snapshots) mkdirSync(snapshots, { recursive: true });
  const origin = await startOrigin(root, 0, 'mem');
  try {
    const proxy = await startMitmscope({
      caDir: join(root, 'ca'),
      upstreamCa: origin.caFile,
      dashboardToken: null,
      nodeArgs: [
        '--import',
        reporter,
        ...(snapshots ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshots}`] : []),
        ...(values['node-arg'] ?? []),
      ],
      flags: values.flag ?? [],
      ...(values.cli ? { cli: values.cli } : {}),
    });
    const target = { port: proxy.port, connectAuthority: `127.0.0.1:${origin.port}` };
    const base = { target, name: origin.defaultName, warmupMs: 1000, durationMs: seconds * 1000 };
    const specs: [string, ClientSpec | H2Spec][] = [
      ['s1 keep-alive 1 KiB', { mode: 'keepalive', ...base, path: PATHS.small, connections: KEEPALIVE_CONNECTIONS }],
      ['s2 new connection', { mode: 'newconn', ...base, path: PATHS.small, connections: NEWCONN_CONCURRENCY }],
      ['s3 keep-alive 1 MiB', { mode: 'keepalive', ...base, path: PATHS.medium, connections: MEDIUM_CONNECTIONS }],
      ['s6 1 GiB download', { mode: 'download', target, name: origin.defaultName, path: PATHS.huge, timeoutMs: 120_000 }],
      ['h2 1 KiB streams', { mode: 'h2load', ...base, path: PATHS.small, connections: H2_CONNECTIONS, streams: H2_STREAMS }],
    ];
    const snapshot = async (): Promise<void> => {
      if (snapshots) await writeSnapshot(proxy.pid, snapshots);
    };
    await snapshot();
    const start = readProc(proxy.pid);
    console.log(`node args: ${(values['node-arg'] ?? []).join(' ') || '(none)'} · flags: ${(values.flag ?? []).join(' ') || '(none)'}`);
    console.log(`start: RSS ${start?.rssMiB.toFixed(0)} MiB (${mappings(proxy.pid)})`);
    console.log('| scenario | rate | proxy CPU s | RSS after MiB | VmHWM MiB | heap used / total MiB (max total; max young) | external MiB (max) | arrayBuffers MiB (max) | mappings MiB |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    const only = values.only?.split(',');
    for (const [label, spec] of specs) {
      if (only && !only.includes(label.split(' ')[0]!)) continue;
      const before = proxy.output().length;
      const cpu0 = readProc(proxy.pid);
      const { value } = await runClientProcess<LoadResult | DownloadResult>(spec, seconds * 1000 + 150_000);
      const cpu1 = readProc(proxy.pid);
      const out = proxy.output().slice(before);
      const b = lastBreakdown(out);
      const rate =
        'requests' in value
          ? `${(value.requests / value.seconds).toFixed(0)} req/s, ${(value.bodyBytes / MiB / value.seconds).toFixed(0)} MiB/s`
          : `${(value.bytes / MiB / value.seconds).toFixed(0)} MiB/s${value.complete ? '' : ` (incomplete: ${value.error})`}`;
      const f = (n: number): string => (n / MiB).toFixed(0);
      console.log(
        `| ${label} | ${rate} | ${cpu0 && cpu1 ? (cpu1.cpuSeconds - cpu0.cpuSeconds).toFixed(1) : '?'} | ${cpu1?.rssMiB.toFixed(0)} | ${cpu1?.hwmMiB.toFixed(0)} | ` +
          `${b ? `${f(b.heapUsed)} / ${f(b.heapTotal)} (${f(maxOf(out, 'heapTotal'))}; ${f(maxOf(out, 'newSpace'))})` : '?'} | ${b ? `${f(b.external)} (${f(maxOf(out, 'external'))})` : '?'} | ${b ? `${f(b.arrayBuffers)} (${f(maxOf(out, 'arrayBuffers'))})` : '?'} | ${mappings(proxy.pid)} |`,
      );
      // A preloaded probe of your own can print `PROBE name value` lines; their maxima are shown.
      const probes = new Map<string, number>();
      for (const m of out.matchAll(/^PROBE (\S+) ([\d.]+)$/gm)) probes.set(m[1]!, Math.max(probes.get(m[1]!) ?? 0, Number(m[2])));
      if (probes.size > 0) console.log(`  probes (max): ${[...probes].map(([k, v]) => `${k} ${v}`).join(', ')}`);
      await snapshot();
    }
    await proxy.close();
  } finally {
    await origin.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error((err as Error).stack ?? String(err));
    process.exit(1);
  },
);
