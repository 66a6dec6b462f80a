/**
 * `mitmscope sessions [DIR]`: the sessions in a folder with their flow count, size on disk and
 * first/last capture time, read without changing them (the database is opened read-only).
 */
import { readdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SessionDb, DB_FILE } from './db.js';
import { segmentsSize } from './segment-io.js';

export interface SessionInfo {
  name: string;
  path: string;
  flows: number;
  bytes: number;
  first: number | null;
  last: number | null;
  /** Why the session could not be read, when it could not. */
  error: string | null;
}

async function fileSize(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => 0);
}

export async function sessionInfo(path: string, name: string): Promise<SessionInfo> {
  const db = join(path, DB_FILE);
  const bytes = (await fileSize(db)) + (await fileSize(`${db}-wal`)) + (await segmentsSize(join(path, 'bodies')));
  try {
    const s = new SessionDb(db, { readonly: true });
    try {
      const row = s.db.prepare('SELECT count(*) AS n, min(started_at) AS first, max(started_at) AS last FROM flows').get() as { n: number; first: number | null; last: number | null };
      return { name, path, flows: row.n, bytes, first: row.first, last: row.last, error: null };
    } finally {
      s.close();
    }
  } catch (err) {
    return { name, path, flows: 0, bytes, first: null, last: null, error: (err as Error).message };
  }
}

/** Sessions directly under `dir` (folders holding a session database), oldest name first. */
export async function listSessions(dir: string): Promise<SessionInfo[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: SessionInfo[] = [];
  for (const name of names.sort()) {
    const path = join(dir, name);
    if (existsSync(join(path, DB_FILE))) out.push(await sessionInfo(path, name));
  }
  return out;
}

function size(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

function when(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

export function formatSessions(dir: string, sessions: readonly SessionInfo[]): string {
  if (sessions.length === 0) return `no sessions in ${dir}\n`;
  const rows = sessions.map((s) => [s.name, s.error ? `unreadable: ${s.error}` : String(s.flows), size(s.bytes), when(s.first), when(s.last)]);
  const head = ['session', 'flows', 'size', 'first capture (UTC)', 'last capture (UTC)'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return `${[line(head), ...rows.map(line)].join('\n')}\n`;
}
