import { test, describe, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlowStore } from '../../src/capture/store.js';
import { isMitmError } from '../../src/errors.js';
import { harToFlows } from '../../src/har/mapping.js';
import { HarRecorder } from '../../src/har/recorder.js';
import { parseOrMend, repairHarFile } from '../../src/har/repair.js';
import { mendTornHar } from '../../src/har/torn.js';
import { findJsonSyntaxError } from '../../src/har/json-error.js';
import type { Har } from '../../src/har/types.js';
import { cli } from '../helpers/cli.js';
import { getJson, httpFlow, redirect, webSocket } from './fixtures/flows.js';
import { assertValidHar } from './fixtures/validate.js';

/** Entries whose JSON holds what a naive cutter would trip on: `]}}`, `,{"`, escapes, multi-byte UTF-8. */
function awkward() {
  return httpFlow({
    url: 'https://example.test/a?q=%5D%7D%7D',
    responseHeaders: [['Content-Type', 'text/plain; charset=utf-8']],
    responseBody: 'ends like a recording ]}} then ,{"log":{"entries":[ and "quotes" \\ backslashes, naïve café ☕ €',
  });
}

/** A real recording: the recorder's own layout, written by the recorder. */
async function record(dir: string): Promise<Buffer> {
  const path = join(dir, 'rec.har');
  const store = new FlowStore();
  const recorder = await HarRecorder.open(path, { append: false, store });
  for (const make of [getJson, awkward, webSocket, redirect, awkward]) {
    const flow = make();
    store.add(flow);
  }
  await recorder.close();
  return readFile(path);
}

async function tempDir(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'mitmscope-torn-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Byte offsets just after `"entries":[` and just after each entry. */
function entryEnds(bytes: Buffer): number[] {
  const text = bytes.toString('utf8');
  const open = text.indexOf('"entries":[') + '"entries":['.length;
  const har = JSON.parse(text) as Har;
  const ends = [Buffer.byteLength(text.slice(0, open))];
  for (const [i, e] of har.log.entries.entries()) ends.push(ends[ends.length - 1]! + (i > 0 ? 1 : 0) + Buffer.byteLength(JSON.stringify(e)));
  return ends;
}

/** A recording cut `extra` bytes after the end of its entry number `after` (0: after `entries:[`), as `torn.har`. */
async function tornCopy(t: TestContext, after: number, extra: number): Promise<{ dir: string; path: string; bytes: Buffer; cut: number }> {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const bytes = await record(dir.path);
  const path = join(dir.path, 'torn.har');
  const cut = entryEnds(bytes)[after]! + extra;
  await writeFile(path, bytes.subarray(0, cut), { mode: 0o600 });
  return { dir: dir.path, path, bytes, cut };
}

describe('mending a HAR recording a kill cut off', () => {
  test('a cut anywhere after the entries opened keeps exactly the entries complete before it', async (t) => {
    const dir = await tempDir();
    t.after(() => dir.remove());
    const bytes = await record(dir.path);
    const whole = JSON.parse(bytes.toString('utf8')) as Har;
    assert.equal(whole.log.entries.length, 5);
    assert.equal(parseOrMend(bytes).mend, null, 'a whole recording needs no mending');
    const ends = entryEnds(bytes);
    assert.equal(ends[ends.length - 1], bytes.length - 3, 'the entries end where the tail starts');
    // Every offset near a boundary, and every 13th byte elsewhere: cuts inside strings, escapes,
    // multi-byte characters, nested objects and the tail.
    const cuts = new Set<number>();
    for (let c = ends[0]!; c < bytes.length; c += 13) cuts.add(c);
    for (const e of ends) for (let d = -4; d <= 4; d++) if (e + d >= ends[0]! && e + d < bytes.length) cuts.add(e + d);
    for (let c = bytes.length - 3; c < bytes.length; c++) cuts.add(c);
    for (const cut of cuts) {
      const kept = ends.filter((e, i) => i > 0 && e <= cut).length;
      const read = parseOrMend(bytes.subarray(0, cut));
      assert.ok(read.mend, `cut at ${cut}`);
      assert.equal(read.mend.entries, kept, `cut at ${cut}`);
      assert.equal(read.mend.droppedBytes, cut - ends[kept]!, `cut at ${cut}`);
      assert.deepEqual((read.value as Har).log.entries, whole.log.entries.slice(0, kept), `cut at ${cut}`);
    }
  });

  test('a HAR that starts with a byte order mark is mended too, and keeps the mark', async (t) => {
    const { bytes } = await tornCopy(t, 0, 0);
    const torn = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes.subarray(0, entryEnds(bytes)[2]! + 30)]);
    const read = parseOrMend(torn);
    assert.deepEqual(read.mend, { entries: 2, droppedBytes: 30 });
    assert.equal(read.text.charCodeAt(0), 0xfeff);
    assert.equal((read.value as Har).log.entries.length, 2);
  });

  test('a cut in the head, damage before the end and valid JSON are not mended', async (t) => {
    const dir = await tempDir();
    t.after(() => dir.remove());
    const bytes = await record(dir.path);
    const text = bytes.toString('utf8');
    const open = text.indexOf('"entries":[') + '"entries":['.length;
    for (let cut = 0; cut < open; cut++) assert.equal(mendTornHar(text.slice(0, cut)), null, `cut at ${cut} in the head`);
    // A member's colon replaced halfway through, then the text cut: damage, not only a cut.
    const colon = text.indexOf('":', Math.floor(text.length / 2)) + 1;
    assert.equal(mendTornHar(text.slice(0, colon) + '#' + text.slice(colon + 1, -100)) === null, true, 'damage before the cut');
    assert.equal(mendTornHar(text) === null, true, 'valid JSON');
    // Cut inside an array that is not `log.entries`, or where `entries` is not the last member of `log`.
    assert.equal(mendTornHar('{"log":{"version":"1.2","creator":{"name":"x","version":"1"},"entries":[],"pages":[{"id":"p"'), null);
    assert.equal(mendTornHar('{"log":{"entries":[{"a":1}],"comment":"cut'), null);
    assert.throws(() => parseOrMend(Buffer.from(text.slice(0, open - 5))), (err: unknown) => isMitmError(err) && err.code === 'MITM_ERR_HAR_INVALID' && !/repair-har/.test(err.message));
  });

  test('an escape the text ends in is reported as an unterminated string, not a bad escape', () => {
    for (const text of ['"a\\', '"a\\u', '"a\\u00e']) {
      const found = findJsonSyntaxError(text);
      assert.deepEqual([found?.offset, found?.reason], [text.length, 'unterminated string'], text);
    }
    assert.equal(findJsonSyntaxError('"a\\u00zz"')?.reason, 'bad \\u escape');
  });

  test('importing a cut-off recording names the cut and the repair', async (t) => {
    const dir = await tempDir();
    t.after(() => dir.remove());
    const bytes = await record(dir.path);
    const cut = entryEnds(bytes)[3]! + 20;
    assert.throws(
      () => harToFlows(bytes.subarray(0, cut).toString('utf8')),
      (err: unknown) => isMitmError(err) && err.code === 'MITM_ERR_HAR_INVALID' && /unexpected end of input|unterminated string/.test(err.message) && /mitmscope repair-har FILE` keeps its 3 complete entries/.test(err.message),
    );
  });

  test('reopening a cut-off recording with append mends it and records on after the last complete entry', async (t) => {
    const { path, bytes, cut } = await tornCopy(t, 2, 1000);
    const store = new FlowStore();
    const recorder = await HarRecorder.open(path, { append: true, store });
    assert.deepEqual(recorder.mend, { entries: 2, droppedBytes: cut - entryEnds(bytes)[2]! });
    store.add(getJson());
    await recorder.close();
    const har = JSON.parse(await readFile(path, 'utf8')) as Har;
    assert.equal(har.log.entries.length, 3);
    assert.equal(har.log.entries[2]!.request.url, getJson().request.url);
    await assertValidHar(har);
  });

  test('repairHarFile replaces the file atomically, keeps its mode, and leaves whole or unmendable files alone', async (t) => {
    const { dir, path, bytes } = await tornCopy(t, 4, 7);
    await chmod(path, 0o640);
    const first = await repairHarFile(path);
    assert.deepEqual(first, { entries: 4, mend: { entries: 4, droppedBytes: 7 } });
    assert.equal((await stat(path)).mode & 0o777, 0o640);
    const mended = await readFile(path);
    assert.equal(mended.length, entryEnds(bytes)[4]! + 3);
    await assertValidHar(JSON.parse(mended.toString('utf8')));
    assert.deepEqual(await repairHarFile(path), { entries: 4, mend: null });
    assert.deepEqual(await readFile(path), mended);
    const broken = join(dir, 'broken.har');
    await writeFile(broken, '{"log": {"version": "1.2" "entries": []}}');
    await assert.rejects(repairHarFile(broken), (err: unknown) => isMitmError(err) && err.code === 'MITM_ERR_HAR_INVALID');
    assert.equal(await readFile(broken, 'utf8'), '{"log": {"version": "1.2" "entries": []}}');
  });

  test('mitmscope repair-har mends a cut-off recording and says what it kept', async (t) => {
    const { path } = await tornCopy(t, 1, 50);
    const r = await cli(['repair-har', path]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cut off inside an entry.*kept its 1 complete entry and dropped the last 50 bytes/);
    assert.equal((JSON.parse(await readFile(path, 'utf8')) as Har).log.entries.length, 1);
    const again = await cli(['repair-har', path]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /is a complete HAR \(1 entry\): nothing to repair/);
    await writeFile(path, 'not json');
    const bad = await cli(['repair-har', path]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /MITM_ERR_HAR_INVALID/);
    const none = await cli(['repair-har']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /repair-har needs exactly one FILE/);
  });
});
