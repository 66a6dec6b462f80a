/**
 * `--keylog FILE`: NSS key log lines (what Node's `keylog` event gives) appended for both legs,
 * the format Wireshark and tshark read to decrypt a capture.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { debuglog } from 'node:util';
import type { Handshake } from '../capture/flow.js';
import { MitmError } from '../errors.js';

const debug = debuglog('mitmscope-keylog');

/** The file holds secrets that decrypt the session: readable by its owner only. */
const KEYLOG_MODE = 0o600;

export interface KeylogWriter {
  write(line: Buffer): void;
  close(): Promise<void>;
}

/**
 * Opens (creating or appending to) the key log before any traffic, so an unwritable path stops
 * start-up with the file named instead of leaving a key log that silently stays empty.
 */
export async function openKeylog(path: string): Promise<KeylogWriter> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'a', KEYLOG_MODE);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new MitmError(
      'MITM_ERR_KEYLOG_IO',
      `cannot write the key log ${path} (${code}): pass --keylog a file in a folder that exists and that you may write to (${dirname(path)})`,
      { cause: err },
    );
  }
  const stream = handle.createWriteStream();
  // A failure after start-up (disk full) must not take the proxy down; the debug log says why.
  stream.on('error', (err) => debug('writing %s failed: %s', path, err.message));
  return {
    write(line: Buffer): void {
      if (!stream.destroyed) stream.write(line);
    },
    close(): Promise<void> {
      return new Promise((resolve) => stream.end(() => resolve()));
    },
  };
}

export interface KeylogEntry {
  /** NSS label, e.g. `CLIENT_HANDSHAKE_TRAFFIC_SECRET` or `CLIENT_RANDOM`. */
  label: string;
  /** Hex of the ClientHello random the secret belongs to. */
  clientRandom: string;
  secret: Buffer;
}

/** NSS key log line: `<LABEL> <client_random hex> <secret hex>` (one per `keylog` event). */
const KEYLOG_LINE = /^([A-Z0-9_]+) ([0-9a-fA-F]{64}) ([0-9a-fA-F]{2,256})\s*$/;

export function parseKeylogLine(line: Uint8Array): KeylogEntry | null {
  const m = KEYLOG_LINE.exec(Buffer.from(line.buffer, line.byteOffset, line.byteLength).toString('latin1'));
  if (m === null || m[3]!.length % 2 !== 0) return null;
  return { label: m[1]!, clientRandom: m[2]!.toLowerCase(), secret: Buffer.from(m[3]!, 'hex') };
}

/**
 * A connection logs 5 TLS 1.3 secrets (6 with 0-RTT) or one TLS 1.2 line; a peer renegotiating
 * in a loop must not grow the list without bound.
 */
export const MAX_KEYLOG_LINES_PER_CONNECTION = 16;

/**
 * Key log lines per recorded handshake, for `GET /api/flows/:id/keylog` (Wireshark decrypts a
 * capture with them). Weakly held: they go when the flow's connection objects go.
 */
const linesByHandshake = new WeakMap<Handshake, string[]>();

export function rememberKeylog(handshake: Handshake, entry: KeylogEntry): void {
  const lines = linesByHandshake.get(handshake) ?? [];
  if (lines.length >= MAX_KEYLOG_LINES_PER_CONNECTION) return;
  lines.push(`${entry.label} ${entry.clientRandom} ${entry.secret.toString('hex')}`);
  linesByHandshake.set(handshake, lines);
}

export function keylogLines(handshake: Handshake | null | undefined): readonly string[] {
  return handshake ? (linesByHandshake.get(handshake) ?? []) : [];
}
