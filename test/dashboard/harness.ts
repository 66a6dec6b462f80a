/**
 * A real dashboard on 127.0.0.1 port 0 over a real FlowStore, plus a raw HTTP client that can
 * set any Host header (fetch cannot). Cleanup is registered on the test context at once.
 */
import http from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createFlow, emptyRequest, type Flow, type Header } from '../../src/capture/flow.js';
import { FlowStore } from '../../src/capture/store.js';
import { startDashboard, type Dashboard, type DashboardOptions } from '../../src/dashboard/server.js';

export const TOKEN = 'test-token-0123456789';
export const CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
export const CA_DER = Buffer.from([0x30, 0x82, 0x01, 0x0a, 0x02, 0x01]);
export const CA_P12 = Buffer.from([0x30, 0x82, 0x02, 0x00, 0x02, 0x01, 0x03]);

export interface Harness {
  dash: Dashboard;
  store: FlowStore;
  port: number;
  base: string;
  /** `localhost:<port>`, the Host a browser sends. */
  host: string;
  dir: string;
}

type Overrides = Partial<Omit<DashboardOptions, 'store'>> & { store?: FlowStore; ui?: boolean };

export async function startHarness(t: TestContext, overrides: Overrides = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'mitmscope-dash-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const caFiles = { pem: join(dir, 'ca.pem'), cer: join(dir, 'ca.cer'), p12: join(dir, 'ca.p12') };
  await writeFile(caFiles.pem, CA_PEM);
  await writeFile(caFiles.cer, CA_DER);
  await writeFile(caFiles.p12, CA_P12);
  const uiDir = join(dir, 'ui');
  if (overrides.ui) {
    await mkdir(uiDir);
    await writeFile(join(uiDir, 'index.html'), '<!doctype html><title>mitmscope ui</title><script src="app.js"></script>');
    await writeFile(join(uiDir, 'app.js'), 'console.log(1)');
  }
  const { ui: _ui, ...rest } = overrides;
  const store = rest.store ?? new FlowStore();
  const dash = await startDashboard({ host: '127.0.0.1', port: 0, token: TOKEN, uiHosts: [], caFiles, uiDir, ...rest, store });
  t.after(() => dash.close());
  return { dash, store, port: dash.port, base: dash.url, host: `localhost:${dash.port}`, dir };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text(): string;
  json(): unknown;
}

export interface RawRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Adds `Authorization: Bearer TOKEN` unless false. */
  auth?: boolean;
}

/** One HTTP/1.1 request with exactly the headers given (Host defaults to localhost:port). */
export function request(port: number, req: RawRequest): Promise<RawResponse> {
  const headers: Record<string, string> = { host: `localhost:${port}`, ...(req.auth === false ? {} : { authorization: `Bearer ${TOKEN}` }), ...req.headers };
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, method: req.method ?? 'GET', path: req.path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: () => body.toString('utf8'), json: () => JSON.parse(body.toString('utf8')) as unknown });
      });
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(req.body);
  });
}

export interface FlowInit {
  method?: string;
  url?: string;
  status?: number;
  requestHeaders?: Header[];
  requestBody?: Buffer;
  responseHeaders?: Header[];
  responseBody?: Buffer;
  bodyTruncated?: boolean;
  complete?: boolean;
}

/** A flow shaped like one the proxy captured, with an optional response. */
export function makeFlow(init: FlowInit = {}): Flow {
  const url = init.url ?? 'https://example.test/index.html';
  const request = emptyRequest(init.method ?? 'GET', url);
  request.headers = init.requestHeaders ?? [['Host', 'example.test']];
  if (init.requestBody) {
    request.body = init.requestBody;
    request.bodySize = init.requestBody.length;
  }
  const flow = createFlow({ kind: 'http', scheme: 'https', host: 'example.test', port: 443, request, clientConnection: null });
  if (init.status !== undefined) {
    const body = init.responseBody ?? Buffer.alloc(0);
    flow.response = {
      httpVersion: '1.1',
      status: init.status,
      statusText: 'OK',
      headers: init.responseHeaders ?? [],
      bodySize: init.bodyTruncated ? body.length * 4 : body.length,
      bodyTruncated: init.bodyTruncated ?? false,
      body,
      trailers: [],
    };
  }
  if (init.complete ?? init.status !== undefined) {
    flow.state = 'complete';
    flow.duration = 12.5;
  }
  return flow;
}
