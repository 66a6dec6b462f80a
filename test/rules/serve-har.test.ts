import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCommandLine } from '../../src/command.js';
import { isMitmError } from '../../src/errors.js';
import { curl, curlStatus, startProxy, tempDir } from '../helpers/servers.js';
import { requireTools } from '../helpers/tools.js';
import { startUpstreams } from './harness.js';

interface Recorded {
  method: string;
  url: string;
  body?: string;
  status: number;
  answer: string;
}

function har(entries: Recorded[]): unknown {
  return {
    log: {
      version: '1.2',
      creator: { name: 'test', version: '1' },
      entries: entries.map((e) => ({
        startedDateTime: '2026-03-14T09:26:53.589Z',
        time: 5,
        request: {
          method: e.method,
          url: e.url,
          httpVersion: 'HTTP/1.1',
          cookies: [],
          headers: [],
          queryString: [],
          headersSize: -1,
          bodySize: e.body?.length ?? 0,
          ...(e.body !== undefined ? { postData: { mimeType: 'text/plain', text: e.body } } : {}),
        },
        response: {
          status: e.status,
          statusText: 'OK',
          httpVersion: 'HTTP/1.1',
          cookies: [],
          headers: [{ name: 'Content-Type', value: 'text/plain' }, { name: 'Content-Length', value: '999' }],
          content: { size: e.answer.length, mimeType: 'text/plain', text: e.answer },
          redirectURL: '',
          headersSize: -1,
          bodySize: e.answer.length,
        },
        cache: {},
        timings: { send: 1, wait: 3, receive: 1 },
      })),
    },
  };
}

test('--serve-har answers recorded requests in recorded order and sends the rest upstream', { skip: requireTools('curl') }, async (t) => {
  const up = await startUpstreams(t);
  const dir = await tempDir();
  t.after(() => dir.remove());
  const base = `http://127.0.0.1:${up.http.port}`;
  const file = join(dir.path, 'recorded.har');
  await writeFile(
    file,
    JSON.stringify(
      har([
        { method: 'GET', url: `${base}/poll`, status: 202, answer: 'first' },
        { method: 'GET', url: `${base}/poll`, status: 200, answer: 'second' },
        { method: 'POST', url: `${base}/submit`, body: 'a=1', status: 201, answer: 'created' },
      ]),
    ),
  );
  const proxy = await startProxy({ serveHar: file });
  t.after(() => proxy.cleanup());
  const answers = [];
  for (let i = 0; i < 3; i++) answers.push(curlStatus(await curl(proxy, `${base}/poll`)));
  assert.deepEqual(answers, [
    { body: 'first', status: 202 },
    { body: 'second', status: 200 },
    { body: 'second', status: 200 },
  ]);
  assert.deepEqual(curlStatus(await curl(proxy, `${base}/submit`, ['-d', 'a=1'])), { body: 'created', status: 201 });
  assert.equal(up.seen.length, 0, 'recorded requests never reach the server');
  assert.deepEqual(curlStatus(await curl(proxy, `${base}/submit`, ['-d', 'a=2'])), { body: 'echo POST /submit a=2', status: 200 });
  assert.deepEqual(curlStatus(await curl(proxy, `${base}/other`)), { body: 'echo GET /other ', status: 200 });
  assert.deepEqual(up.seen.map((s) => s.url), ['/submit', '/other']);
});

test('--serve-har-strict answers 404 naming the file for requests not in it', { skip: requireTools('curl') }, async (t) => {
  const up = await startUpstreams(t);
  const dir = await tempDir();
  t.after(() => dir.remove());
  const file = join(dir.path, 'only.har');
  await writeFile(file, JSON.stringify(har([{ method: 'GET', url: `http://127.0.0.1:${up.http.port}/known`, status: 200, answer: 'known' }])));
  const proxy = await startProxy({ serveHar: file, serveHarStrict: true });
  t.after(() => proxy.cleanup());
  assert.deepEqual(curlStatus(await curl(proxy, `http://127.0.0.1:${up.http.port}/known`)), { body: 'known', status: 200 });
  const missing = curlStatus(await curl(proxy, `http://127.0.0.1:${up.http.port}/unknown`));
  assert.equal(missing.status, 404);
  assert.match(missing.body, /GET http:\/\/127\.0\.0\.1:\d+\/unknown is not in only\.har/);
  assert.equal(up.seen.length, 0);

  assert.throws(() => parseCommandLine(['--serve-har-strict']), (e: unknown) => isMitmError(e) && e.code === 'MITM_ERR_CONFIG');
  const bad = join(dir.path, 'bad.har');
  await writeFile(bad, '{"log": ');
  await assert.rejects(startProxy({ serveHar: bad }), (e: unknown) => isMitmError(e) && e.code === 'MITM_ERR_CONFIG');
});
