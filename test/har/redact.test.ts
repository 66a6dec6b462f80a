import { test, describe, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlowStore } from '../../src/capture/store.js';
import { flowsToHar, flowToEntry } from '../../src/har/mapping.js';
import { HarRecorder } from '../../src/har/recorder.js';
import { getJson, redirect } from './fixtures/flows.js';
import { assertValidHar } from './fixtures/validate.js';

/** Every credential value the fixture carries, plus one in a header named by the user. */
const SECRETS = ['s3cr3t-session', 'eyJhbGciOi.secret-token', 'n3w-s3cr3t', 'k3y-9f8e7d', 'pr0xy-cr3d'];

function secretFlow(): ReturnType<typeof getJson> {
  const flow = getJson();
  flow.request.headers.push(['X-Api-Key', 'k3y-9f8e7d'], ['Proxy-Authorization', 'Basic pr0xy-cr3d']);
  return flow;
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mitmscope-har-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('HAR redaction', () => {
  test('without redaction the credentials are exported as captured', () => {
    const text = JSON.stringify(flowsToHar([secretFlow()]));
    for (const s of SECRETS) assert.ok(text.includes(s), s);
  });

  test('removes cookie, authorization and named header values from an export', async () => {
    const har = flowsToHar([secretFlow()], { redact: { headers: ['x-API-key'] } });
    const text = JSON.stringify(har);
    for (const s of SECRETS) assert.ok(!text.includes(s), `${s} leaked`);
    const e = har.log.entries[0]!;
    const value = (list: { name: string; value: string }[], name: string): string | undefined => list.find((h) => h.name === name)?.value;
    for (const name of ['Cookie', 'Authorization', 'X-Api-Key', 'Proxy-Authorization']) assert.equal(value(e.request.headers, name), '[redacted]', name);
    assert.equal(value(e.request.headers, 'User-Agent'), 'curl/8.5.0');
    assert.deepEqual(
      e.request.cookies.map((c) => [c.name, c.value]),
      [
        ['session', '[redacted]'],
        ['theme', '[redacted]'],
      ],
    );
    assert.deepEqual(
      e.response.cookies.map((c) => [c.name, c.value, c.path]),
      [
        ['session', '[redacted]', '/'],
        ['seen', '[redacted]', undefined],
      ],
    );
    assert.ok(e.response.headers.filter((h) => h.name === 'Set-Cookie').every((h) => h.value === '[redacted]'));
    await assertValidHar(har);
  });

  test('a redacted Location also hides redirectURL', () => {
    const e = flowToEntry(redirect(), { redact: { headers: ['Location'] } });
    assert.equal(e.response.redirectURL, '[redacted]');
    assert.equal(flowToEntry(redirect(), { redact: null }).response.redirectURL, 'https://example.com/new');
  });

  test('removes the values from a recording', async (t) => {
    const path = join(await tempDir(t), 'redacted.har');
    const store = new FlowStore();
    const recorder = await HarRecorder.open(path, { append: false, store, redact: { headers: ['X-Api-Key'] } });
    store.add(secretFlow());
    await recorder.close();
    const text = await readFile(path, 'utf8');
    assert.equal((JSON.parse(text) as { log: { entries: unknown[] } }).log.entries.length, 1);
    for (const s of SECRETS) assert.ok(!text.includes(s), `${s} leaked`);
    assert.ok(text.includes('[redacted]'));
  });
});
