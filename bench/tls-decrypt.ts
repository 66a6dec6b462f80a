/**
 * What seeing inside the handshake costs: the recorded TLS 1.3 and TLS 1.2 conversations with
 * their key logs (test/fixtures/tls/*-keylog.json) replayed through the tap, with the key log
 * (decrypt and verify) and without it (parse only, the opaque rows come back at the end).
 * Prints CPU µs per handshake.
 *
 *   node --import tsx bench/tls-decrypt.ts [handshakes]
 */
import { emptyHandshake } from '../src/capture/flow.js';
import { HandshakeTap } from '../src/tls/tap.js';
import { loadFixture, loadKeylog, type FixtureName } from '../test/fixtures/tls/helpers.js';

const DEFAULT_HANDSHAKES = 2000;

function replayOnce(name: FixtureName, keylog: boolean): HandshakeTap {
  const tap = new HandshakeTap(emptyHandshake(), 'server', 0, null);
  let keyed = false;
  let t = 0;
  for (const chunk of loadFixture(name)) {
    tap.observe(chunk.dir === 'c2s' ? 'out' : 'in', chunk.bytes, ++t);
    if (keylog && !keyed && chunk.dir === 's2c') {
      keyed = true;
      for (const line of loadKeylog(name)) tap.keylog(line);
    }
  }
  tap.finish('end of recording');
  return tap;
}

function measure(name: FixtureName, keylog: boolean, n: number): number {
  for (let i = 0; i < 50; i++) replayOnce(name, keylog);
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) replayOnce(name, keylog);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

function main(): void {
  const n = Number(process.argv[2] ?? DEFAULT_HANDSHAKES);
  const rows: string[] = ['| conversation | parse only (µs/handshake) | parse + decrypt (µs/handshake) |', '| --- | --- | --- |'];
  for (const name of ['node-tls13-keylog', 'node-ecdhe-tls12-keylog'] as const) {
    const plain = measure(name, false, n);
    const decrypted = measure(name, true, n);
    rows.push(`| ${name} | ${plain.toFixed(1)} | ${decrypted.toFixed(1)} |`);
  }
  process.stdout.write(`${rows.join('\n')}\n(${n} handshakes each, CPU time of this process, Node ${process.version})\n`);
}

main();
