/**
 * The real `mitmscope` command as a child process: started from source with tsx, ready once it
 * prints `ready`, with the `name value` lines it printed (proxy, dashboard, CA, CA SHA-256).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { run, type RunResult } from './servers.js';

export const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

export interface StartedCli {
  child: ChildProcess;
  lines: Record<string, string>;
  /** The proxy's port, from its `proxy http://...` line. */
  port: number;
  exited: Promise<number | null>;
}

/** Runs the command to completion (for --help, errors, env). */
export function cli(args: string[], options: Parameters<typeof run>[2] = {}): Promise<RunResult> {
  return run(process.execPath, ['--import', 'tsx', CLI, ...args], options);
}

export function startCli(args: string[]): Promise<StartedCli> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!/^ready$/m.test(out)) return;
      const lines: Record<string, string> = {};
      for (const line of out.split('\n')) {
        const m = /^(proxy|dashboard|CA SHA-256|CA)\s+(\S+)/.exec(line);
        if (m) lines[m[1]!] = m[2]!;
      }
      const port = Number(/:(\d+)$/.exec(lines['proxy'] ?? '')?.[1] ?? 0);
      resolve({ child, lines, port, exited });
    });
    child.once('exit', (code) => reject(new Error(`mitmscope exited ${code} before ready: ${out}${err}`)));
  });
}
