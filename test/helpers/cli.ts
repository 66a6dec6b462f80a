/**
 * The real `mitmscope` command as a child process: started from source with tsx, ready once it
 * prints `ready`, with the `name value` lines it printed (proxy, dashboard, CA, CA SHA-256).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
export async function cli(argv: string[], options: Parameters<typeof run>[2] = {}): Promise<RunResult> {
  const { args, cleanup } = withSession(argv);
  try {
    return await run(process.execPath, ['--import', 'tsx', CLI, ...args], options);
  } finally {
    cleanup();
  }
}

/**
 * Without `--session` the command would create `sessions/…` in the working directory: tests that
 * do not name one get a temporary folder, removed when the process exits.
 */
function withSession(args: string[]): { args: string[]; cleanup: () => void } {
  if (args.includes('--session')) return { args, cleanup: () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'mitmscope-cli-session-'));
  return { args: [...args, '--session', dir], cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function startCli(argv: string[]): Promise<StartedCli> {
  const { args, cleanup } = withSession(argv);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.once('exit', cleanup);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!/^ready$/m.test(out)) return;
      const lines: Record<string, string> = {};
      for (const line of out.split('\n')) {
        const m = /^(proxy|dashboard|CA SHA-256|CA|session)\s+(\S+)/.exec(line);
        if (m) lines[m[1]!] = m[2]!;
      }
      const port = Number(/:(\d+)$/.exec(lines['proxy'] ?? '')?.[1] ?? 0);
      resolve({ child, lines, port, exited });
    });
    child.once('exit', (code) => reject(new Error(`mitmscope exited ${code} before ready: ${out}${err}`)));
  });
}
