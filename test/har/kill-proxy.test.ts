import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import { startHttpServer, stopChild, tempDir, type Listening } from '../helpers/servers.js';
import { seeded } from '../helpers/random.js';
import { startCli } from '../helpers/cli.js';
import { readKilledRecording } from './fixtures/killed.js';

/** The recording's promise: every exchange that completed this long before the kill is in the file. */
const SETTLE_MS = 200;
const SEEDS = [11, 22, 33];

function request(port: number, target: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString('latin1')));
    s.on('error', () => resolve(false));
    s.on('close', () => resolve(/^HTTP\/1\.1 200/.test(out)));
  });
}

describe('continuous HAR recording through the real proxy survives kill -9', () => {
  let files: { path: string; remove(): Promise<void> };
  let server: Listening;

  before(async () => {
    files = await tempDir();
    server = await startHttpServer((req, res) => res.end(`body of ${req.url}`));
  });
  after(async () => {
    await server.close();
    await files.remove();
  });

  for (const seed of SEEDS) {
    test(`seed ${seed}: after SIGKILL at a random moment the file parses (or is mended) and holds every exchange completed ${SETTLE_MS} ms earlier`, async (t) => {
      const random = seeded(seed);
      const har = join(files.path, `kill-${seed}.har`);
      const { child, port } = await startCli(['--port', '0', '--no-ui', '--ca-dir', join(files.path, 'ca'), '--har', har]);
      t.after(() => stopChild(child));
      const completed: { url: string; at: number }[] = [];
      let killed = false;
      // The kill moment is seeded: 300–1,000 ms after the first exchange completed, so that
      // some exchanges are always due and the moment falls anywhere in a write cycle.
      const delay = 300 + Math.floor(random() * 700);
      let firstDone: () => void = () => {};
      const started = new Promise<void>((resolve) => (firstDone = resolve));
      const workers = Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; !killed; i++) {
          const url = `http://127.0.0.1:${server.port}/w${w}/r${i}`;
          if (await request(port, url)) {
            completed.push({ url, at: Date.now() });
            firstDone();
          }
        }
      });
      await started;
      await new Promise((resolve) => setTimeout(resolve, delay));
      const killedAt = Date.now();
      child.kill('SIGKILL');
      killed = true;
      await Promise.all(workers);
      const { har: parsed, mend } = await readKilledRecording(har);
      const recorded = new Set(parsed.log.entries.map((e) => e.request.url));
      const due = completed.filter((c) => c.at < killedAt - SETTLE_MS);
      const missing = due.filter((c) => !recorded.has(c.url));
      t.diagnostic(`${completed.length} completed, ${due.length} due, ${recorded.size} recorded${mend ? ', the file cut inside a write and mended' : ''}`);
      assert.ok(due.length > 0, 'some exchanges completed well before the kill');
      assert.deepEqual(missing, []);
    });
  }
});
