/**
 * HAR recorder cost: entries/s written to a real file for flows with 1 KiB bodies, and the
 * main-thread cost of mapping + serialising one entry (what the proxy's event loop pays).
 *   node --import tsx bench/har.ts [flows]
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFlow, emptyHandshake, emptyRequest, type Connection, type Flow } from '../src/capture/flow.js';
import { FlowStore } from '../src/capture/store.js';
import { entryJson, flowToEntry } from '../src/har/mapping.js';
import { HarRecorder } from '../src/har/recorder.js';

/** Enough flows for a stable rate without a long run. */
const DEFAULT_FLOWS = 20_000;
const BODY_BYTES = 1024;
/** Completions per event-loop turn, like a busy proxy finishing several exchanges at once. */
const BURST = 50;

function connection(side: 'client' | 'server', withTls: boolean): Connection {
  const tls = emptyHandshake();
  tls.version = 'TLSv1.2';
  tls.cipher = { id: 0xc02f, name: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', keyExchange: 'ECDHE', authentication: 'RSA', encryption: 'AES_128_GCM', mac: 'AEAD' };
  tls.sni = 'bench.example.com';
  tls.certificates = [{ subject: 'CN=bench.example.com', issuer: 'CN=CA', notBefore: '2026-01-01T00:00:00Z', notAfter: '2027-01-01T00:00:00Z', sans: ['bench.example.com'], sha256: 'AB'.repeat(32) }];
  for (const type of ['TCPConnect', 'ClientHello', 'ServerHello', 'Certificate', 'ServerKeyExchange', 'ServerHelloDone', 'ClientKeyExchange', 'ChangeCipherSpec', 'Finished', 'Finished']) {
    tls.events.push({ t: tls.events.length * 1.5, from: tls.events.length % 2 ? 'server' : 'proxy', type, details: {} });
  }
  return { id: `${side}-1`, side, address: '10.0.0.1', port: 443, host: 'bench.example.com', openedAt: Date.now(), closedAt: null, tls: withTls ? tls : null };
}

function makeFlow(i: number, withTls: boolean): Flow {
  const request = emptyRequest('GET', `https://bench.example.com/items/${i}?q=x`);
  request.headers = [['Host', 'bench.example.com'], ['User-Agent', 'bench'], ['Accept', '*/*'], ['Cookie', 'a=1; b=2']];
  const flow = createFlow({ kind: 'http', scheme: 'https', host: 'bench.example.com', port: 443, request, clientConnection: connection('client', withTls) });
  const body = Buffer.from('b'.repeat(BODY_BYTES));
  flow.response = { status: 200, statusText: 'OK', httpVersion: '1.1', headers: [['Content-Type', 'text/plain'], ['Content-Length', String(BODY_BYTES)]], bodySize: BODY_BYTES, bodyTruncated: false, body, trailers: [] };
  flow.serverConnection = connection('server', withTls);
  flow.timings = { blocked: 0.1, dns: 1, connect: 2, ssl: 3, send: 0.1, wait: 5, receive: 0.2 };
  return flow;
}

/** µs per entry: the recorder's path (shares handshakes) and the public export path (copies them). */
function mapCost(n: number, withTls: boolean): { recorder: number; exported: number } {
  const flows = Array.from({ length: n }, (_, i) => makeFlow(i, withTls));
  let t0 = performance.now();
  for (const f of flows) entryJson(f, null);
  const recorder = ((performance.now() - t0) * 1000) / n;
  t0 = performance.now();
  for (const f of flows) JSON.stringify(flowToEntry(f));
  return { recorder, exported: ((performance.now() - t0) * 1000) / n };
}

async function record(n: number, withTls: boolean): Promise<{ rate: number; bytes: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'mitmscope-bench-'));
  try {
    const path = join(dir, 'bench.har');
    const store = new FlowStore();
    const recorder = await HarRecorder.open(path, { append: false, store });
    const flows = Array.from({ length: n }, (_, i) => makeFlow(i, withTls));
    const t0 = performance.now();
    for (let i = 0; i < n; i += BURST) {
      for (const f of flows.slice(i, i + BURST)) {
        f.state = 'complete';
        store.add(f);
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await recorder.close();
    const ms = performance.now() - t0;
    return { rate: (recorder.entries / ms) * 1000, bytes: (await stat(path)).size };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const n = Number(process.argv[2] ?? DEFAULT_FLOWS);
for (const withTls of [false, true]) {
  const label = withTls ? 'with _tls (both handshakes)' : 'without TLS data';
  mapCost(Math.min(n, 5000), withTls); // JIT warm-up
  const cost = mapCost(Math.min(n, 5000), withTls);
  const { rate, bytes } = await record(n, withTls);
  console.log(`${label}: ${Math.round(rate)} entries/s recorded (${n} flows, ${BODY_BYTES} B bodies, ${(bytes / n / 1024).toFixed(1)} KiB/entry); serialise ${cost.recorder.toFixed(1)} µs/entry in the recorder, ${cost.exported.toFixed(1)} µs via flowToEntry`);
}
