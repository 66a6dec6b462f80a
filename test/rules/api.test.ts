import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCommandLine } from '../../src/command.js';
import { isMitmError } from '../../src/errors.js';
import { curl, curlStatus, startProxy, tempDir } from '../helpers/servers.js';
import { flowWhere } from '../helpers/flows.js';
import { requireTools } from '../helpers/tools.js';
import { apiClient, startRulesProxy, startUpstreams, TOKEN } from './harness.js';

interface RuleJson {
  id: string;
  enabled: boolean;
  match: string;
  action: Record<string, unknown>;
}

test('rules are listed in order, changed by id and deleted; bad input answers 400 with the field and reason', async (t) => {
  const { proxy, api } = await startRulesProxy(t);
  const a = (await api('POST', '/api/rules', { match: 'host:a', action: { type: 'delay', ms: 5 } })).json as RuleJson;
  const b = (await api('POST', '/api/rules', { id: 'mine', match: 'host:b', action: { type: 'abort' } })).json as RuleJson;
  assert.deepEqual(b, { id: 'mine', enabled: true, match: 'host:b', action: { type: 'abort', how: 'reset' } });
  assert.deepEqual(((await api('GET', '/api/rules')).json as RuleJson[]).map((r) => r.id), [a.id, 'mine']);

  const badRegex = await api('POST', '/api/rules', { match: '', action: { type: 'rewrite', target: 'url', find: '([a-', replace: '' } });
  assert.equal(badRegex.status, 400);
  assert.deepEqual({ ...(badRegex.json as object), error: undefined, reason: undefined }, { error: undefined, reason: undefined, code: 'MITM_ERR_RULE_INVALID', index: null, field: 'action.find' });
  const cases: [unknown, string][] = [
    [{ match: 'status:abc', action: { type: 'pause' } }, 'match'],
    [{ action: { type: 'explode' } }, 'action.type'],
    [{ action: { type: 'respond', status: 1000 } }, 'action.status'],
    [{ action: { type: 'respond', headers: [['Bad Name', 'x']] } }, 'action.headers[0]'],
    [{ action: { type: 'pause', at: 'later' } }, 'action.at'],
    [{ action: { type: 'delay', ms: -1 } }, 'action.ms'],
    [{ enabled: 'yes', action: { type: 'delay', ms: 1 } }, 'enabled'],
    [[1, 2], 'body'],
  ];
  for (const [body, field] of cases) {
    const r = await api('POST', '/api/rules', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal((r.json as { field: string }).field, field, JSON.stringify(body));
  }
  assert.equal((await api('POST', '/api/rules', { id: 'mine', action: { type: 'abort' } })).status, 400, 'ids are unique');

  const changed = await api('PUT', '/api/rules/mine', { enabled: false, match: 'host:c', action: { type: 'abort', how: 'close' } });
  assert.deepEqual(changed.json, { id: 'mine', enabled: false, match: 'host:c', action: { type: 'abort', how: 'close' } });
  assert.equal((await api('PUT', '/api/rules/nope', { action: { type: 'abort' } })).status, 404);
  assert.deepEqual((await api('DELETE', `/api/rules/${a.id}`)).json, { removed: a.id });
  assert.equal((await api('DELETE', `/api/rules/${a.id}`)).status, 404);
  assert.deepEqual(proxy.rules.list().map((r) => r.id), ['mine']);

  const flowless = await api('POST', '/api/flows/nope/resume', {});
  assert.equal(flowless.status, 404);
});

test('the rules API needs the token and refuses cross-origin changes', async (t) => {
  const { proxy } = await startRulesProxy(t);
  const base = proxy.dashboardUrl!;
  assert.equal((await fetch(`${base}/api/rules`)).status, 401);
  const foreign = await fetch(`${base}/api/rules`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, origin: 'http://evil.example', 'content-type': 'application/json' },
    body: JSON.stringify({ action: { type: 'abort' } }),
  });
  assert.equal(foreign.status, 403);
  assert.equal(proxy.rules.list().length, 0);
});

test('rules survive a restart in the session folder, as a 0600 JSON file', { skip: requireTools('curl') }, async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const session = join(dir.path, 'session');
  const rulesFile = join(session, 'rules.json');
  const first = await startProxy({ ui: true, uiPort: 0, token: TOKEN, session });
  const created = await apiClient(first.dashboardUrl!)('POST', '/api/rules', { match: 'path:/kept', action: { type: 'respond', status: 203, body: 'kept' } });
  assert.equal(created.status, 201);
  await first.cleanup();
  assert.equal((await stat(rulesFile)).mode & 0o777, 0o600);

  const second = await startProxy({ ui: true, uiPort: 0, token: TOKEN, session });
  t.after(() => second.cleanup());
  assert.deepEqual((await apiClient(second.dashboardUrl!)('GET', '/api/rules')).json, [created.json]);
  const r = await curl(second, 'http://127.0.0.1:9/kept');
  assert.deepEqual(curlStatus(r), { body: 'kept', status: 203 });
});

test('--rules loads a file at start; an invalid rule stops start-up naming its index and field', { skip: requireTools('curl') }, async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  const good = join(dir.path, 'good.json');
  await writeFile(good, JSON.stringify([{ match: '/x', action: { type: 'respond', status: 200, body: 'from file' } }]));
  const proxy = await startProxy({ rules: good });
  t.after(() => proxy.cleanup());
  assert.equal(curlStatus(await curl(proxy, 'http://127.0.0.1:9/x')).body, 'from file');

  const bad = join(dir.path, 'bad.json');
  await writeFile(bad, JSON.stringify([{ action: { type: 'delay', ms: 1 } }, { action: { type: 'rewrite', target: 'url', find: '(' } }]));
  const err = await startProxy({ rules: bad }).then(
    () => assert.fail('started with an invalid rule'),
    (e: unknown) => e,
  );
  assert.ok(isMitmError(err));
  assert.equal(err.code, 'MITM_ERR_CONFIG');
  assert.match(err.message, /rule 1: action\.find: is not a valid regular expression/);

  const cmd = parseCommandLine(['--rules', 'r.json', '--pause-timeout', '1500']);
  assert.equal(cmd.kind, 'run');
  if (cmd.kind === 'run') {
    assert.match(cmd.config.rules ?? '', /r\.json$/);
    assert.equal(cmd.config.pauseTimeout, 1500);
  }
  assert.throws(() => parseCommandLine(['--pause-timeout', 'soon']), (e: unknown) => isMitmError(e) && e.code === 'MITM_ERR_CONFIG');
});

test('replay resends a captured request with edits as a new linked flow; the upstream sees both', { skip: requireTools('curl') }, async (t) => {
  const up = await startUpstreams(t);
  const { proxy, api } = await startRulesProxy(t);
  // HTTP/1.1, so the edited header list below is a valid one (an h2 flow's carries pseudo-headers).
  const r = await curl(proxy, `https://localhost:${up.https.port}/orig`, ['--http1.1', '-d', 'one', '-H', 'X-Try: 1']);
  assert.equal(curlStatus(r).body, 'echo POST /orig one');
  const original = await flowWhere(proxy, (f) => f.request.url.endsWith('/orig') && f.state === 'complete');

  const again = await api('POST', `/api/flows/${original.id}/replay`);
  assert.equal(again.status, 200, JSON.stringify(again.json));
  const plain = await flowWhere(proxy, (f) => f.id === (again.json as { id: string }).id && f.state === 'complete');
  assert.equal(plain.replayOf, original.id);
  assert.equal((await proxy.store.readBody(plain.id, 'response')).toString(), 'echo POST /orig one');
  assert.equal(plain.serverConnection?.tls?.version, 'TLSv1.2', 'through the proxy\'s own TLS');

  const headers = original.request.headers.map(([n, v]): [string, string] => (n === 'X-Try' ? [n, '2'] : [n, v]));
  const edited = await api('POST', `/api/flows/${original.id}/replay`, { headers, body: 'two, longer', url: `https://localhost:${up.https.port}/edited` });
  assert.equal(edited.status, 200, JSON.stringify(edited.json));
  const second = await flowWhere(proxy, (f) => f.id === (edited.json as { id: string }).id && f.state === 'complete');
  assert.equal((await proxy.store.readBody(second.id, 'response')).toString(), 'echo POST /edited two, longer');
  assert.deepEqual(up.seen.map((s) => [s.url, s.body, s.headers['x-try']]), [['/orig', 'one', '1'], ['/orig', 'one', '1'], ['/edited', 'two, longer', '2']]);
  assert.equal(up.seen[2]!.headers['content-length'], '11');

  const bad = await api('POST', `/api/flows/${original.id}/replay`, { url: 'ftp://x/' });
  assert.equal(bad.status, 400);
  assert.equal((bad.json as { field: string }).field, 'url');
  assert.equal((await api('POST', `/api/flows/${original.id}/resume`)).status, 409);
});

test('an imported HAR flow can be resent', async (t) => {
  const up = await startUpstreams(t);
  const { proxy, api } = await startRulesProxy(t);
  const url = `http://127.0.0.1:${up.http.port}/from-har?q=1`;
  const har = {
    log: {
      version: '1.2',
      creator: { name: 'test', version: '1' },
      entries: [
        {
          startedDateTime: '2026-03-14T09:26:53.589Z',
          time: 12,
          request: { method: 'PUT', url, httpVersion: 'HTTP/1.1', cookies: [], headers: [{ name: 'Content-Type', value: 'text/plain' }], queryString: [], headersSize: -1, bodySize: 4, postData: { mimeType: 'text/plain', text: 'data' } },
          response: { status: 200, statusText: 'OK', httpVersion: 'HTTP/1.1', cookies: [], headers: [], content: { size: 0, mimeType: 'text/plain' }, redirectURL: '', headersSize: -1, bodySize: 0 },
          cache: {},
          timings: { send: 1, wait: 10, receive: 1 },
        },
      ],
    },
  };
  assert.deepEqual((await api('POST', '/api/har', har)).json, { imported: 1 });
  const imported = proxy.store.list().find((f) => f.imported)!;
  const res = await api('POST', `/api/flows/${imported.id}/replay`);
  assert.equal(res.status, 200, JSON.stringify(res.json));
  const resent = await flowWhere(proxy, (f) => f.id === (res.json as { id: string }).id && f.state === 'complete');
  assert.equal(resent.replayOf, imported.id);
  assert.equal(resent.imported, false);
  assert.deepEqual(up.seen.map((s) => [s.method, s.url, s.body, s.headers['host']]), [['PUT', '/from-har?q=1', 'data', `127.0.0.1:${up.http.port}`]]);
});
