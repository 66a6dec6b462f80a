import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isMitmError } from '../../src/errors.js';
import { openKeylog } from '../../src/tls/keylog.js';
import { tempDir } from '../helpers/servers.js';
import { cli } from '../helpers/cli.js';

test('a key log that cannot be opened is an error naming the file, not a silently empty log', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const aFolder = join(dir.path, 'folder');
  await mkdir(aFolder);
  for (const path of [join(dir.path, 'missing', 'keys.log'), aFolder]) {
    await assert.rejects(openKeylog(path), (err: unknown) => {
      assert.ok(isMitmError(err));
      assert.equal(err.code, 'MITM_ERR_KEYLOG_IO');
      assert.ok(err.message.includes(path), err.message);
      return true;
    });
  }
});

test('mitmscope --keylog into a missing folder refuses to start, naming the file and the code', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const keylog = join(dir.path, 'missing', 'keys.log');
  const r = await cli(['--port', '0', '--no-ui', '--ca-dir', join(dir.path, 'ca'), '--keylog', keylog]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /\[MITM_ERR_KEYLOG_IO\]/);
  assert.ok(r.stderr.includes(keylog), r.stderr);
  assert.doesNotMatch(r.stdout, /^ready$/m);
});

test('an openable key log is created owner-only and receives what is written', async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const path = join(dir.path, 'keys.log');
  const writer = await openKeylog(path);
  writer.write(Buffer.from('CLIENT_RANDOM 00 11\n'));
  await writer.close();
  assert.equal(await readFile(path, 'utf8'), 'CLIENT_RANDOM 00 11\n');
  assert.equal((await stat(path)).mode & 0o777, 0o600);
});
