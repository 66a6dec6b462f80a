/**
 * Runs the session's full-scan queries (filters, matched counts, sorted windows) and body
 * searches on a worker thread. A filter over a million flows takes SQLite seconds, a body search
 * reads and decodes bodies for as long; on the main thread either would stall every proxied
 * exchange (measured by `npm run bench:store` and `npm run bench:search`).
 */
import { Worker } from 'node:worker_threads';
import type { SqlWhere } from './filter-sql.js';
import type { SummaryRow } from './db.js';
import type { ScanRequest, ScanResult } from './search-scan.js';

interface RowsRequest {
  op: 'rows';
  direction: 'older' | 'newer';
  bound: number;
  where: SqlWhere | null;
  limit: number;
}

interface CountRequest {
  op: 'count';
  where: SqlWhere | null;
}

/** A read-only query built elsewhere (a sorted window) with its parameters. */
interface SelectRequest {
  op: 'select';
  sql: string;
  params: (string | number)[];
}

/** A body and header search over the written rows (`search-scan.ts`). */
interface SearchRequest {
  op: 'search';
  scan: ScanRequest;
}

type Request = RowsRequest | CountRequest | SelectRequest | SearchRequest;
export type ReaderRequest = Request & { id: number };

export interface ReaderResponse {
  id: number;
  rows?: SummaryRow[];
  count?: number;
  scan?: ScanResult;
  error?: string;
}

type Pending = { resolve: (r: ReaderResponse) => void; reject: (e: Error) => void };


function startWorker(path: string): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(fromSource ? './reader-worker.ts' : './reader-worker.js', import.meta.url);
  if (!fromSource) return new Worker(entry, { workerData: { path } });
  // Run from TypeScript sources (tests, through tsx): the worker registers tsx for itself.
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { eval: true, workerData: { path } });
}

export class SessionReader {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly path: string) {}

  rows(direction: 'older' | 'newer', bound: number, where: SqlWhere | null, limit: number): Promise<SummaryRow[]> {
    return this.ask({ op: 'rows', direction, bound, where, limit }).then((r) => r.rows ?? []);
  }

  select(sql: string, params: (string | number)[]): Promise<SummaryRow[]> {
    return this.ask({ op: 'select', sql, params }).then((r) => r.rows ?? []);
  }

  search(scan: ScanRequest): Promise<ScanResult> {
    return this.ask({ op: 'search', scan }).then((r) => {
      if (!r.scan) throw new Error('session search failed: no result');
      return r.scan;
    });
  }

  count(where: SqlWhere | null): Promise<number> {
    return this.ask({ op: 'count', where }).then((r) => r.count ?? 0);
  }

  private ask(req: Request): Promise<ReaderResponse> {
    const worker = this.ensure();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ ...req, id });
    });
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker(this.path);
    worker.on('message', (res: ReaderResponse) => {
      const p = this.pending.get(res.id);
      if (!p) return;
      this.pending.delete(res.id);
      if (this.pending.size === 0) worker.unref();
      if (res.error !== undefined) p.reject(new Error(`session query failed: ${res.error}`));
      else p.resolve(res);
    });
    const fail = (err: Error): void => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.worker = null;
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the session reader stopped (exit ${code})`)));
    // Idle, it must not keep the process alive.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
