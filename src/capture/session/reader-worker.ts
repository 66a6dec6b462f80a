/**
 * The session reader's thread: a read-only connection to the session database that runs the
 * queries which scan every row (filters, matched counts, sorted windows) so the proxy's event
 * loop never waits on them. WAL mode lets it read while the store writes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { countSql, registerFunctions, summariesSql, type SummaryRow } from './db.js';
import type { ReaderRequest, ReaderResponse } from './reader.js';

const db = new Database((workerData as { path: string }).path, { readonly: true, fileMustExist: true });
registerFunctions(db);

parentPort!.on('message', (req: ReaderRequest) => {
  let res: ReaderResponse;
  try {
    if (req.op === 'select') res = { id: req.id, rows: db.prepare(req.sql).all(...req.params) as SummaryRow[] };
    else if (req.op === 'count') res = { id: req.id, count: (db.prepare(countSql(req.where)).get(...(req.where?.params ?? [])) as { n: number }).n };
    else res = { id: req.id, rows: db.prepare(summariesSql(req.direction, req.where, req.limit)).all(req.bound, ...(req.where?.params ?? [])) as SummaryRow[] };
  } catch (err) {
    res = { id: req.id, error: (err as Error).message };
  }
  parentPort!.postMessage(res);
});
