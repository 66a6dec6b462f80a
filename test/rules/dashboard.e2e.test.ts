/**
 * Rules, breakpoints and resend driven from the dashboard in headless Chromium, with curl
 * sending real traffic through the proxy to a real upstream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { buildUi } from '../../ui/build.js';
import { curl, curlStatus } from '../helpers/servers.js';
import { flowWhere } from '../helpers/flows.js';
import { requireTools } from '../helpers/tools.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH, VIEWPORT, eventually } from '../ui/fixtures/harness.js';
import { startRulesProxy, startUpstreams, TOKEN } from './harness.js';

test('a rule added in the dashboard pauses a request, the editor resumes it edited, and Resend sends it again', { timeout: 120_000, skip: requireTools('chromium', 'curl') }, async (t) => {
  await buildUi();
  const up = await startUpstreams(t);
  const { proxy } = await startRulesProxy(t);
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const page = await (await browser.newContext({ viewport: VIEWPORT })).newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${proxy.dashboardUrl}/?token=${TOKEN}`);
  await page.locator('.conn.open').waitFor();

  await page.getByRole('button', { name: 'Rules' }).click();
  const panel = page.getByRole('region', { name: 'Rules' });
  await panel.getByLabel('Match').fill('path:/ui-hold');
  await panel.getByLabel('Action').fill('{ "type": "rewrite", "target": "url", "find": "(", "replace": "" }');
  await panel.getByRole('button', { name: 'Add rule' }).click();
  await panel.getByRole('alert').filter({ hasText: 'action.find' }).waitFor();
  await panel.getByRole('button', { name: 'pause', exact: true }).click();
  await panel.getByRole('button', { name: 'Add rule' }).click();
  await panel.locator('.rule-list li', { hasText: 'pause at request' }).waitFor();
  assert.deepEqual(proxy.rules.list().map((r) => [r.match, r.action.type]), [['path:/ui-hold', 'pause']]);

  const client = curl(proxy, `https://localhost:${up.https.port}/ui-hold`, ['-d', 'from curl', '-H', 'X-Shown: <b>not bold</b>']);
  await page.getByTestId('paused-count').filter({ hasText: '1 paused' }).click();
  const editor = page.getByRole('form', { name: 'Paused request' });
  const body = editor.getByLabel('Body');
  await eventually(async () => (await body.inputValue()) === 'from curl', 'the paused body in the editor');
  const values: string[] = [];
  for (const input of await editor.locator('.headers.edit input').all()) values.push(await input.inputValue());
  assert.ok(values.includes('<b>not bold</b>'), 'a captured header is shown as text');
  assert.equal(await page.locator('.detail b').count(), 0);
  assert.equal(up.seen.length, 0);
  await body.fill('edited in the browser');
  await editor.getByRole('button', { name: 'Resume with edits' }).click();

  const r = await client;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(curlStatus(r).body, 'echo POST /ui-hold edited in the browser');
  await page.getByTestId('paused-count').waitFor({ state: 'detached' });

  await page.getByRole('button', { name: 'Resend', exact: true }).click();
  const resent = await flowWhere(proxy, (f) => f.replayOf !== null && f.state === 'complete');
  assert.equal((await proxy.store.readBody(resent.id, 'response')).toString(), 'echo POST /ui-hold edited in the browser');
  assert.equal(up.seen.length, 2);
  await page.locator('.detail').filter({ hasText: 'Resent from' }).waitFor();
  assert.deepEqual(pageErrors, []);
});
