/**
 * The session reader's thread: a read-only connection to the session database that runs the
 * queries which scan every row (filters, matched counts, sorted windows) and body searches, so
 * the proxy's event loop never waits on them. WAL mode lets it read while the store writes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { countSql, registerFunctions, summariesSql, type SummaryRow } from './db.js';
import type { ReaderRequest, ReaderResponse } from './reader.js';
import { scanSession } from './search-scan.js';

const path = (workerData as { path: string }).path;
const db = new Database(path, { readonly: true, fileMustExist: true });
registerFunctions(db);
/** Where the store keeps body segments: `bodies/` beside the database. */
const bodies = join(dirname(path), 'bodies');

async function answer(req: ReaderRequest): Promise<ReaderResponse> {
  if (req.op === 'search') return { id: req.id, scan: await scanSession(db, bodies, req.scan) };
  if (req.op === 'select') return { id: req.id, rows: db.prepare(req.sql).all(...req.params) as SummaryRow[] };
  if (req.op === 'count') return { id: req.id, count: (db.prepare(countSql(req.where)).get(...(req.where?.params ?? [])) as { n: number }).n };
  return { id: req.id, rows: db.prepare(summariesSql(req.direction, req.where, req.limit)).all(req.bound, ...(req.where?.params ?? [])) as SummaryRow[] };
}

parentPort!.on('message', (req: ReaderRequest) => {
  answer(req).then(
    (res) => parentPort!.postMessage(res),
    (err: unknown) => parentPort!.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) } satisfies ReaderResponse),
  );
});
