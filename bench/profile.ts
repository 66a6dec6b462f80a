/**
 * CPU profile of mitmscope under one scenario: the origin and a mitmscope child started with
 * `node --cpu-prof`, the scenario's load from the client process, then SIGINT (the CLI exits
 * cleanly, so V8 writes the profile) and the .cpuprofile summarised: self time by function and
 * by module, inclusive time of mitmscope's own functions.
 *
 *   node dist/bench/profile.js s1|s2|s3|h2 [seconds] [--keep DIR]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ClientSpec, LoadResult } from './client.js';
import type { H2Spec } from './h2-client.js';
import { killAllNow, readProc } from './procs.js';
import { H2_CONNECTIONS, H2_STREAMS, KEEPALIVE_CONNECTIONS, MEDIUM_CONNECTIONS, NEWCONN_CONCURRENCY, runClientProcess } from './scenarios.js';
import { startMitmscope } from './targets.js';
import { PATHS, startOrigin } from './upstream.js';

const TOP = 10;

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function shortUrl(url: string): string {
  if (url === '') return '';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  return url.replace(/^file:\/\//, '');
}

function key(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  const url = shortUrl(frame.url);
  return url ? `${name} ${url}:${frame.lineNumber + 1}` : name;
}

/** Where a function lives, coarsely: what a fix would have to touch. */
function group(frame: CallFrame): string {
  const u = frame.url;
  if (u === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  if (u.startsWith('node:')) {
    const m = /^node:(internal\/)?([^/]+(\/[^/]+)?)/.exec(u);
    return `node:${m?.[2] ?? u}`;
  }
  const nm = /\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (nm) return nm[1]!;
  const src = /\/dist\/(src\/[^/]+\/[^/.]+|src\/[^/.]+)/.exec(u);
  return src ? src[1]! : shortUrl(u);
}

export interface ProfileSummary {
  totalMs: number;
  selfByFunction: [string, number][];
  selfByGroup: [string, number][];
  inclusiveOwn: [string, number][];
}

export function summarizeProfile(profile: CpuProfile): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0) / 1000);
  }
  const selfByFunction = new Map<string, number>();
  const selfByGroup = new Map<string, number>();
  let totalMs = 0;
  for (const [id, ms] of self) {
    const frame = byId.get(id)!.callFrame;
    totalMs += ms;
    selfByFunction.set(key(frame), (selfByFunction.get(key(frame)) ?? 0) + ms);
    selfByGroup.set(group(frame), (selfByGroup.get(group(frame)) ?? 0) + ms);
  }
  // Inclusive time of mitmscope's own functions; a function on the stack twice counts once.
  const inclusive = new Map<string, number>();
  const walk = (id: number, onStack: Set<string>): number => {
    const node = byId.get(id)!;
    let total = self.get(id) ?? 0;
    const k = key(node.callFrame);
    const own = node.callFrame.url.includes('/dist/src/') && !onStack.has(k);
    if (own) onStack.add(k);
    for (const child of node.children ?? []) total += walk(child, onStack);
    if (own) {
      onStack.delete(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + total);
    }
    return total;
  };
  const root = profile.nodes[0];
  if (root) walk(root.id, new Set());
  const sorted = (m: Map<string, number>): [string, number][] => [...m].sort((a, b) => b[1] - a[1]);
  return { totalMs, selfByFunction: sorted(selfByFunction), selfByGroup: sorted(selfByGroup), inclusiveOwn: sorted(inclusive) };
}

function printSummary(title: string, s: ProfileSummary, busyMs: number): void {
  const pct = (ms: number, of: number): string => `${((100 * ms) / of).toFixed(1).padStart(5)} %`;
  const line = (rows: [string, number][], of: number): string => rows.map(([k, ms]) => `  ${ms.toFixed(0).padStart(7)} ms ${pct(ms, of)}  ${k}`).join('\n');
  console.log(`\n## ${title}: ${s.totalMs.toFixed(0)} ms sampled, ${busyMs.toFixed(0)} ms not idle (percentages are of the non-idle time)`);
  console.log(`\nTop ${TOP} self time by function:\n${line(s.selfByFunction.filter(([k]) => k !== '(idle)').slice(0, TOP), busyMs)}`);
  console.log(`\nSelf time by module:\n${line(s.selfByGroup.filter(([k]) => k !== '(idle)').slice(0, 16), busyMs)}`);
  console.log(`\nInclusive time of mitmscope's own functions:\n${line(s.inclusiveOwn.slice(0, 15), busyMs)}`);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { keep: { type: 'string' } } });
  const scenario = positionals[0] ?? 's1';
  const seconds = Number(positionals[1] ?? 10);
  const root = mkdtempSync(join(tmpdir(), 'mitmscope-profile-'));
  const profDir = values.keep ?? join(root, 'prof');
  await mkdir(profDir, { recursive: true });
  process.on('exit', () => {
    killAllNow();
    rmSync(root, { recursive: true, force: true });
  });
  process.on('SIGINT', () => process.exit(130));
  const origin = await startOrigin(root, 0, 'prof');
  try {
    const proxy = await startMitmscope({ caDir: join(root, 'ca'), upstreamCa: origin.caFile, dashboardToken: null, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] });
    const target = { port: proxy.port, connectAuthority: `127.0.0.1:${origin.port}` };
    const base = { target, name: origin.defaultName, warmupMs: 1000, durationMs: seconds * 1000 };
    const spec: ClientSpec | H2Spec =
      scenario === 'h2'
        ? { mode: 'h2load', ...base, path: PATHS.small, connections: H2_CONNECTIONS, streams: H2_STREAMS }
        : scenario === 's2'
        ? { mode: 'newconn', ...base, path: PATHS.small, connections: NEWCONN_CONCURRENCY }
        : scenario === 's3'
          ? { mode: 'keepalive', ...base, path: PATHS.medium, connections: MEDIUM_CONNECTIONS }
          : { mode: 'keepalive', ...base, path: PATHS.small, connections: KEEPALIVE_CONNECTIONS };
    const cpu0 = readProc(proxy.pid);
    const { value: result } = await runClientProcess<LoadResult>(spec, seconds * 1000 + 30_000);
    const cpu1 = readProc(proxy.pid);
    console.log(
      `${scenario}: ${(result.requests / result.seconds).toFixed(0)} req/s, ${(result.bodyBytes / 2 ** 20 / result.seconds).toFixed(0)} MiB/s, p50 ${result.p50.toFixed(2)} ms, ${result.errors} errors; ` +
        `proxy CPU ${cpu0 && cpu1 ? ((cpu1.cpuSeconds - cpu0.cpuSeconds) / (result.seconds + 1)).toFixed(2) : '?'} cores, RSS ${cpu1?.rssMiB.toFixed(0)} MiB`,
    );
    await proxy.close();
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile in ${profDir}:\n${proxy.output()}`);
    const profile = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as CpuProfile;
    const summary = summarizeProfile(profile);
    const idle = summary.selfByGroup.find(([k]) => k === '(idle)')?.[1] ?? 0;
    printSummary(`mitmscope under ${scenario}`, summary, summary.totalMs - idle);
    if (values.keep) console.log(`\nprofile kept: ${join(profDir, file)}`);
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
