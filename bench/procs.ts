/**
 * Child processes of a bench run and what they cost: every child is registered so that it dies
 * with the run (normal end, error, SIGINT), and a sampler reads a target's memory and CPU from
 * /proc (VmRSS/VmHWM in status, utime+stime in stat) while scenarios run.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** How often RSS is read: fine enough to catch a transient peak of a 1 GiB stream. */
const SAMPLE_MS = 100;
const MIB = 1024 * 1024;

const children = new Set<ChildProcess>();

export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Last resort (exit, signals): no waiting, every child we started gets SIGKILL. */
export function killAllNow(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

export function stopChild(child: ChildProcess, graceMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

let clockTicks: number | null = null;
function ticksPerSecond(): number {
  if (clockTicks === null) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    clockTicks = Number(out.stdout.trim()) || 100;
  }
  return clockTicks;
}

export interface ProcReading {
  rssMiB: number;
  hwmMiB: number;
  /** utime + stime of every thread of the process, seconds. */
  cpuSeconds: number;
}

export function readProc(pid: number): ProcReading | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    // Fields after the parenthesised command name (which may hold spaces): state is field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024, cpuSeconds: ticks / ticksPerSecond() };
  } catch {
    return null;
  }
}

/** CPU ticks of the whole machine (every core) from /proc/stat: busy and total. */
export function machineTicks(): { busy: number; total: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy excludes idle and iowait.
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
    return { busy, total: busy + f[3]! + f[4]! };
  } catch {
    return null;
  }
}

/** CPU seconds the whole machine spent busy since `from`. */
export function machineBusySince(from: { busy: number } | null): number {
  const now = machineTicks();
  return from && now ? (now.busy - from.busy) / ticksPerSecond() : NaN;
}

/**
 * Waits until the machine is quiet (other people's tests share it): less than `cores` busy over
 * two consecutive seconds, at most `maxMs`. Resolves with the busy cores last seen.
 */
export async function waitForQuiet(cores: number, maxMs: number, quietSeconds = 2): Promise<{ waitedMs: number; busyCores: number }> {
  const t0 = Date.now();
  let quiet = 0;
  let busyCores = NaN;
  for (;;) {
    const a = machineTicks();
    await new Promise((r) => setTimeout(r, 1000));
    busyCores = machineBusySince(a);
    quiet = busyCores < cores ? quiet + 1 : 0;
    if (quiet >= quietSeconds || Date.now() - t0 >= maxMs) return { waitedMs: Date.now() - t0, busyCores };
  }
}

export interface Segment {
  label: string;
  seconds: number;
  /** CPU seconds over the segment of: the proxy (NaN for direct), the origin, the load client, the machine. */
  proxyCpu: number;
  originCpu: number;
  clientCpu: number;
  machineCpu: number;
  rssMinMiB: number;
  rssMaxMiB: number;
  rssEndMiB: number;
  /** Cores other processes used just before the segment, and how long the bench waited for quiet. */
  busyBefore: number;
  waitedMs: number;
}

/** CPU seconds (in cores) nobody in this run used: other processes on a shared machine. */
export function backgroundCores(s: Segment): number {
  const ours = (Number.isFinite(s.proxyCpu) ? s.proxyCpu : 0) + (Number.isFinite(s.originCpu) ? s.originCpu : 0) + (Number.isFinite(s.clientCpu) ? s.clientCpu : 0);
  return Math.max(0, (s.machineCpu - ours) / s.seconds);
}

/** Samples the RSS of one process (the proxy) continuously; `segment()` brackets a scenario. */
export class Sampler {
  private readonly timer: NodeJS.Timeout | null;
  private segMin = Infinity;
  private segMax = 0;
  private last: ProcReading | null;
  readonly first: ProcReading | null;

  /** `pid` null: nothing to sample but the machine and the origin (direct). */
  constructor(
    readonly pid: number | null,
    private readonly originPid: number | null,
  ) {
    this.first = pid === null ? null : readProc(pid);
    this.last = this.first;
    this.timer = pid === null ? null : setInterval(() => this.sample(), SAMPLE_MS);
    this.timer?.unref();
  }

  private sample(): ProcReading | null {
    if (this.pid === null) return null;
    const r = readProc(this.pid);
    if (r) {
      this.last = r;
      this.segMin = Math.min(this.segMin, r.rssMiB);
      this.segMax = Math.max(this.segMax, r.rssMiB);
    }
    return r;
  }

  /** Runs `body` (which reports the load client's CPU seconds) and measures everyone's cost meanwhile. */
  async segment<T>(label: string, body: () => Promise<{ value: T; clientCpu: number }>, quiet: { busyCores: number; waitedMs: number }): Promise<{ value: T; segment: Segment }> {
    const before = this.sample();
    const originBefore = this.originPid === null ? null : readProc(this.originPid);
    const machine = machineTicks();
    this.segMin = before?.rssMiB ?? Infinity;
    this.segMax = before?.rssMiB ?? 0;
    const t0 = performance.now();
    const { value, clientCpu } = await body();
    const seconds = (performance.now() - t0) / 1000;
    const machineCpu = machineBusySince(machine);
    const after = this.sample();
    const originAfter = this.originPid === null ? null : readProc(this.originPid);
    const segment: Segment = {
      label,
      seconds,
      proxyCpu: (after?.cpuSeconds ?? NaN) - (before?.cpuSeconds ?? NaN),
      originCpu: (originAfter?.cpuSeconds ?? NaN) - (originBefore?.cpuSeconds ?? NaN),
      clientCpu,
      machineCpu,
      rssMinMiB: before ? this.segMin : NaN,
      rssMaxMiB: before ? this.segMax : NaN,
      rssEndMiB: after?.rssMiB ?? NaN,
      busyBefore: quiet.busyCores,
      waitedMs: quiet.waitedMs,
    };
    return { value, segment };
  }

  now(): ProcReading | null {
    return this.sample() ?? this.last;
  }

  stop(): ProcReading | null {
    if (this.timer) clearInterval(this.timer);
    return this.sample() ?? this.last;
  }
}

export { MIB };

/** Runs a bench script's `main`: exit 0 when it resolves, its stack on stderr and exit 1 when it throws. */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
