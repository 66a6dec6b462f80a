/**
 * The session half of a body search, run on a worker thread (`reader-worker.ts`): walks the
 * flows table in arrival order on the worker's read-only connection, tests summaries, reads the
 * candidates' bodies from the segment files with blocking reads (this thread serves nobody
 * else's sockets) and tests them. Flows the main thread holds in memory are left to it: their
 * rows may be stale.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { ParsedFilter } from '../../filter/parse.js';
import { READ_AHEAD, searchMatcher, type SearchCandidate } from '../search.js';
import type { BodyPart } from '../store.js';
import type { CapturedMessage } from '../flow.js';
import { SUMMARY_COLUMNS, summaryOf, type FlowRow } from './db.js';
import { unpackExtents, type Extent } from './segments.js';
import { segmentName } from './segment-io.js';

export interface ScanRequest {
  parsed: ParsedFilter;
  maxScan: number;
  /** Matches to return at most (the count covers all). */
  maxIds: number;
  /**
   * Seqs of flows the main thread tests from memory, ascending, with a row or not (yet): counted
   * here in their place in arrival order, as the budget allows, never tested.
   */
  skip: number[];
}

export interface ScanResult {
  /** Matches in arrival order, at most `maxIds`. */
  matches: { seq: number; id: string }[];
  matched: number;
  scanned: number;
  /** Every row was looked at (maxScan not reached). */
  complete: boolean;
  /** Seqs of `skip` the scan reached: the main thread tests exactly these. */
  skipped: number[];
  /** The last row scanned (0 for none). */
  lastSeq: number;
}

/** Rows read per query: memory stays flat, and no statement stays open across an await. */
const ROWS_PER_READ = 200;

type ScanRow = Pick<FlowRow, 'request_body' | 'response_body' | 'data'> & Parameters<typeof summaryOf>[0];
type StoredMessage = Pick<CapturedMessage, 'headers' | 'bodySize' | 'bodyTruncated'>;

/** Blocking reads of extents, one descriptor per segment for the length of one scan. */
class SegmentFiles {
  private readonly fds = new Map<number, number | null>();

  constructor(private readonly dir: string) {}

  read(extents: readonly Extent[], limit: number): Buffer {
    const parts: Buffer[] = [];
    let total = 0;
    for (const e of extents) {
      if (total >= limit) break;
      const fd = this.fd(e.segment);
      // A segment evicted since the row was read: the flow is gone, its bytes with it.
      if (fd === null) break;
      const buf = Buffer.allocUnsafe(Math.min(e.length, limit - total));
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, e.offset + got);
        if (n === 0) break;
        got += n;
      }
      parts.push(buf.subarray(0, got));
      total += got;
      if (got < buf.length) break;
    }
    return Buffer.concat(parts, total);
  }

  private fd(segment: number): number | null {
    let fd = this.fds.get(segment);
    if (fd === undefined) {
      try {
        fd = openSync(join(this.dir, segmentName(segment)), 'r');
      } catch {
        fd = null;
      }
      this.fds.set(segment, fd);
    }
    return fd;
  }

  close(): void {
    for (const fd of this.fds.values()) if (fd !== null) closeSync(fd);
    this.fds.clear();
  }
}

export async function scanSession(db: Database.Database, bodiesDir: string, req: ScanRequest): Promise<ScanResult> {
  const matcher = searchMatcher(req.parsed);
  const skip = req.skip;
  let k = 0;
  const files = new SegmentFiles(bodiesDir);
  const rowsAfter = db.prepare(`SELECT ${SUMMARY_COLUMNS}, request_body, response_body, data FROM flows WHERE seq > ? ORDER BY seq ASC LIMIT ${ROWS_PER_READ}`);
  const result: ScanResult = { matches: [], matched: 0, scanned: 0, complete: true, skipped: [], lastSeq: 0 };
  let pending: { seq: number; id: string; candidate: SearchCandidate }[] = [];
  const test = async (): Promise<void> => {
    const verdicts = await matcher.test(pending.map((p) => p.candidate));
    verdicts.forEach((ok, i) => {
      if (!ok) return;
      result.matched += 1;
      if (result.matches.length < req.maxIds) result.matches.push({ seq: pending[i]!.seq, id: pending[i]!.id });
    });
    pending = [];
  };
  try {
    /** Counts one flow against the budget; false once it is spent. */
    const count = (seq: number): boolean => {
      if (result.scanned >= req.maxScan) {
        result.complete = false;
        return false;
      }
      result.scanned += 1;
      result.lastSeq = seq;
      return true;
    };
    let after = 0;
    scan: for (;;) {
      const rows = rowsAfter.all(after) as ScanRow[];
      for (const row of rows) {
        // Flows held in memory come in their place, whether they have a row yet or not.
        for (; k < skip.length && skip[k]! <= row.seq; k++) {
          if (!count(skip[k]!)) break scan;
          result.skipped.push(skip[k]!);
        }
        if (result.skipped.at(-1) === row.seq) continue;
        if (!count(row.seq)) break scan;
        if (!matcher.summary(summaryOf(row))) continue;
        const data = JSON.parse(row.data) as { request: StoredMessage; response: StoredMessage | null };
        const extents: Record<BodyPart, Extent[]> = { request: unpackExtents(row.request_body), response: unpackExtents(row.response_body) };
        pending.push({
          seq: row.seq,
          id: row.id,
          candidate: { request: data.request, response: data.response, read: (part, limit) => Promise.resolve(files.read(extents[part], limit)) },
        });
        if (pending.length >= READ_AHEAD) await test();
      }
      if (rows.length < ROWS_PER_READ) {
        for (; k < skip.length; k++) {
          if (!count(skip[k]!)) break;
          result.skipped.push(skip[k]!);
        }
        break;
      }
      after = rows[rows.length - 1]!.seq;
    }
    await test();
  } finally {
    files.close();
  }
  return result;
}
