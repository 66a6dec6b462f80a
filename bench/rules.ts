/**
 * `node --import tsx bench/rules.ts [requests]`: what rules cost. First the per-request rule
 * check alone (pure CPU, rules that do not match), then plain-HTTP requests through an
 * in-process mitmscope to a local origin: no rules, non-matching rules, a held request (request
 * rewrite), a held response (response rewrite). One keep-alive client, sequential requests, so
 * the figures are latency per request on this machine, not throughput. Then the same over
 * HTTP/2: one h2 connection through the proxy's tunnel to a local h2 origin (TLS on both legs),
 * no rules against a held response, which holds the stream and not the connection.
 */
import http from 'node:http';
import http2, { type ClientHttp2Session } from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
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

/** An h2 session to `authority` through the proxy's CONNECT tunnel (certificates not checked: a bench). */
async function h2Through(proxyPort: number, authority: string): Promise<ClientHttp2Session> {
  const raw = net.connect({ host: '127.0.0.1', port: proxyPort });
  await once(raw, 'connect');
  raw.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  const [head] = (await once(raw, 'data')) as [Buffer];
  if (!/^HTTP\/1\.1 200/.test(head.toString('latin1'))) throw new Error(`CONNECT answered ${head.toString('latin1').split('\r\n')[0]}`);
  const socket = tls.connect({ socket: raw, servername: 'localhost', ALPNProtocols: ['h2'], rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  return http2.connect(`https://${authority}`, { createConnection: () => socket });
}

function h2Get(session: ClientHttp2Session, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path });
    req.on('error', reject);
    req.resume();
    req.on('end', () => resolve());
  });
}

async function h2Latency(): Promise<void> {
  const configs: [string, unknown[]][] = [
    ['h2: no rules', []],
    ['h2: held response (response-body rewrite)', [{ match: '/1k', action: { type: 'rewrite', target: 'response-body', find: 'x', replace: 'y' } }]],
  ];
  // A warm-up round, then three measured rounds in alternating order; every round is printed.
  const perRound = new Map<string, number[]>(configs.map(([name]) => [name, []]));
  for (const round of [0, 1, 2, 3]) for (const [name, rules] of round % 2 === 0 ? [...configs].reverse() : configs) {
    const caDir = await mkdtemp(join(tmpdir(), 'mitmscope-bench-rules-'));
    // The origin's certificate comes from this mitmscope's own CA; the upstream leg does not check it.
    const running = await start({ ...DEFAULTS, port: 0, ui: false, caDir, insecure: true });
    await running.rules.replaceAll(validateRules(rules));
    const origin = http2.createSecureServer({
      SNICallback: (servername, cb) => running.minter.contextFor(servername).then((ctx) => cb(null, ctx), (err: Error) => cb(err)),
    });
    origin.on('stream', (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end(BODY);
    });
    origin.listen(0, '127.0.0.1');
    await once(origin, 'listening');
    const session = await h2Through(running.proxyPort, `localhost:${(origin.address() as AddressInfo).port}`);
    for (let i = 0; i < 200; i++) await h2Get(session, '/1k');
    const t0 = performance.now();
    for (let i = 0; i < REQUESTS; i++) await h2Get(session, '/1k');
    const ms = (performance.now() - t0) / REQUESTS;
    if (round > 0) perRound.get(name)!.push(ms * 1000);
    session.destroy();
    await running.close();
    await new Promise<void>((r) => origin.close(() => r()));
    await rm(caDir, { recursive: true, force: true });
  }
  for (const [name, values] of perRound) {
    const median = [...values].sort((a, b) => a - b)[1]!;
    console.log(`${name.padEnd(42)} ${median.toFixed(0)} µs per request (median; rounds ${values.map((v) => v.toFixed(0)).join(', ')})`);
  }
}

await checkCost();
await latency();
await h2Latency();
