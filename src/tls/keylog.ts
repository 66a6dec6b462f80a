/**
 * `--keylog FILE`: NSS key log lines (what Node's `keylog` event gives) appended for both legs,
 * the format Wireshark and tshark read to decrypt a capture.
 */
import { createWriteStream, type WriteStream } from 'node:fs';

export interface KeylogWriter {
  write(line: Buffer): void;
  close(): Promise<void>;
}

export function openKeylog(path: string): KeylogWriter {
  // The file holds secrets that decrypt the session: readable by its owner only.
  const stream: WriteStream = createWriteStream(path, { flags: 'a', mode: 0o600 });
  stream.on('error', () => {});
  return {
    write(line: Buffer): void {
      stream.write(line);
    },
    close(): Promise<void> {
      return new Promise((resolve) => stream.end(() => resolve()));
    },
  };
}
