/**
 * Headless Chromium (Debian's /usr/bin/chromium via playwright-core) with the sandbox off (the
 * tests may run as root) and its background traffic off, a fresh profile, and optionally an NSS
 * database trusting a CA.
 */
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { run } from './servers.js';
import { TOOLS } from './tools.js';

export const CHROMIUM = TOOLS.chromium[0];

const QUIET_FLAGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  // Chromium phones home at start; map Google's hosts to a closed port so no flow is theirs.
  '--host-resolver-rules=MAP *.google.com 127.0.0.1:9, MAP *.googleapis.com 127.0.0.1:9, MAP *.gstatic.com 127.0.0.1:9',
];

/** Creates `$home/.pki/nssdb` trusting `caPemPath` as a web CA (certutil from libnss3-tools). */
export async function trustInNss(home: string, caPemPath: string): Promise<void> {
  const db = join(home, '.pki', 'nssdb');
  await mkdir(db, { recursive: true });
  const created = await run('certutil', ['-d', `sql:${db}`, '-N', '--empty-password']);
  if (created.code !== 0) throw new Error(`certutil -N failed: ${created.stderr}`);
  const added = await run('certutil', ['-d', `sql:${db}`, '-A', '-t', 'C,,', '-n', 'mitmscope-test', '-i', caPemPath]);
  if (added.code !== 0) throw new Error(`certutil -A failed: ${added.stderr}`);
}

export interface LaunchOptions {
  home: string;
  args?: string[];
}

/** A persistent context so that the profile (and HOME's NSS database) is ours alone. */
export async function launch(options: LaunchOptions): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const context = await chromium.launchPersistentContext(join(options.home, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [...QUIET_FLAGS, ...(options.args ?? [])],
    env: { ...process.env, HOME: options.home },
  });
  return { context, close: () => context.close() };
}

export type { Browser };
