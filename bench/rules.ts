/**
 * `node --import tsx bench/rules.ts [requests]`: what rules cost. First the per-request rule
 * check alone (pure CPU, rules that do not match), then plain-HTTP requests through an
 * in-process mitmscope to a local origin: no rules, non-matching rules, a held request (request
 * rewrite), a held response (response rewrite). One keep-alive client, sequential requests, so
 * the figures are latency per request on this machine, not throughput.
 */
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start } from '../src/app.js';
import { DEFAULTS } from '../src/config.js';
import { planExchange } from '../src/rules/plan.js';
import { RuleSet } from '../src/rules/rule-set.js';
import { validateRules } from '../src/rules/validate.js';
import type { FilterSubject } from '../src/filter/match.js';

const REQUESTS = Number(process.argv[2] ?? 2000);
const CHECKS = 200_000;
const BODY = 'x'.repeat(1024);

function nonMatching(n: number): unknown[] {
  return Array.from({ length: n }, (_, i) => ({ match: `host:nowhere-${i}.example method:POST`, action: { type: 'rewrite', target: 'response-body', find: 'x', replace: 'y' } }));
}

async function checkCost(): Promise<void> {
  const subject: FilterSubject = { method: 'GET', url: 'http://127.0.0.1:8080/1k', host: '127.0.0.1', status: null, contentType: null, tlsVersion: null };
  for (const n of [0, 10, 100]) {
    const set = new RuleSet();
    await set.replaceAll(validateRules(nonMatching(n)));
    const t0 = performance.now();
    for (let i = 0; i < CHECKS; i++) planExchange(set.active, false, () => subject);
    const ns = ((performance.now() - t0) * 1e6) / CHECKS;
    console.log(`rule check, ${String(n).padStart(3)} rules: ${ns.toFixed(0)} ns per request`);
  }
}

function get(agent: http.Agent, proxyPort: number, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: proxyPort, path: url, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', reject);
  });
}

async function latency(): Promise<void> {
  const origin = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(BODY));
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/1k`;
  const configs: [string, unknown[]][] = [
    ['no rules', []],
    ['20 rules, none matching', nonMatching(20)],
    ['held request (request-header rewrite)', [{ match: '/1k', action: { type: 'rewrite', target: 'request-header', find: '^Host', replace: 'Host' } }]],
    ['held response (response-body rewrite)', [{ match: '/1k', action: { type: 'rewrite', target: 'response-body', find: 'x', replace: 'y' } }]],
  ];
  // Two rounds: the first warms up the JIT for every path, the second is reported.
  for (const round of [1, 2]) for (const [name, rules] of configs) {
    const caDir = await mkdtemp(join(tmpdir(), 'mitmscope-bench-rules-'));
    const running = await start({ ...DEFAULTS, port: 0, ui: false, caDir });
    await running.rules.replaceAll(validateRules(rules));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 200; i++) await get(agent, running.proxyPort, url);
    const t0 = performance.now();
    for (let i = 0; i < REQUESTS; i++) await get(agent, running.proxyPort, url);
    const ms = (performance.now() - t0) / REQUESTS;
    if (round === 2) console.log(`${name.padEnd(40)} ${(ms * 1000).toFixed(0)} µs per request`);
    agent.destroy();
    await running.close();
    await rm(caDir, { recursive: true, force: true });
  }
  await new Promise<void>((r) => origin.close(() => r()));
}

await checkCost();
await latency();
