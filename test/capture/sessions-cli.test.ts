import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { cli, startCli } from '../helpers/cli.js';
import { startHttpServer, stopChild, tempDir } from '../helpers/servers.js';
import { ProxyAgent, request } from 'undici';

test('start prints the session; mitmscope sessions lists it with its flows; a reopened session keeps them', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const origin = await startHttpServer((_req, res) => res.end('hi'));
  t.after(() => origin.close());
  const sessions = join(dir.path, 'sessions');
  const session = join(sessions, 'first');
  const args = ['--port', '0', '--no-ui', '--ca-dir', join(dir.path, 'ca'), '--session', session];
  const first = await startCli(args);
  t.after(() => stopChild(first.child));
  const dispatcher = new ProxyAgent(`http://127.0.0.1:${first.port}`);
  t.after(() => dispatcher.close());
  for (let i = 0; i < 3; i++) {
    const r = await request(`http://127.0.0.1:${origin.port}/${i}`, { dispatcher });
    assert.equal(await r.body.text(), 'hi');
  }
  await stopChild(first.child);
  await first.exited;

  const listed = await cli(['sessions', sessions]);
  assert.equal(listed.code, 0, listed.stderr);
  const row = listed.stdout.split('\n').find((l) => l.startsWith('first'));
  assert.ok(row, listed.stdout);
  assert.match(row, /^first\s+3\s+\d/);

  const again = await startCli(args);
  t.after(() => stopChild(again.child));
  assert.ok(again.lines['session']?.startsWith(session), JSON.stringify(again.lines));
});

test('a session folder that cannot be used stops start-up naming it and the fix', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const file = join(dir.path, 'file');
  await writeFile(file, 'x');
  const r = await cli(['--port', '0', '--no-ui', '--ca-dir', join(dir.path, 'ca'), '--session', join(file, 'session')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /MITM_ERR_SESSION_IO/);
  assert.match(r.stderr, /--session/);
});

test('a damaged session database is refused and left as it was', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const session = join(dir.path, 's');
  const first = await startCli(['--port', '0', '--no-ui', '--ca-dir', join(dir.path, 'ca'), '--session', session]);
  await stopChild(first.child);
  const db = join(session, 'session.db');
  await writeFile(db, 'this is not a database, it only has the name of one'.repeat(100));
  const before = await readFile(db);
  const r = await cli(['--port', '0', '--no-ui', '--ca-dir', join(dir.path, 'ca'), '--session', session]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /MITM_ERR_SESSION_CORRUPT/);
  assert.deepEqual(await readFile(db), before);
});
