/**
 * Copy-as commands run for real: a request with hostile values goes through the proxy to a
 * recording server, each generated command is run against that server, and the server must
 * see the same method, path, headers and body.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { describe, it, before, after } from 'node:test';
import { copyAs, BODY_FILE, type CopyFormat, type CopyRequest } from '../../ui/src/copy-as.js';
import { flowWhere } from '../helpers/flows.js';
import { run, startHttpServer, startProxy, tempDir, type Listening, type RunResult, type TestProxy } from '../helpers/servers.js';
import { requirePythonModule, requireTool, requireTools } from '../helpers/tools.js';

interface Seen {
  method: string;
  url: string;
  headers: [string, string][];
  body: Buffer;
}

const CANARY = 'copy-as-run-canary';
const HOSTILE = `it's "q" $(touch ${CANARY}) \`touch ${CANARY}\` \${HOME} %PATH% !x! ^ & | < > ; \\ \\" 100%`;
const TEXT_BODY = Buffer.from(`{"a": "${HOSTILE.replace(/["\\]/g, '\\$&')}"}\nline 2 \`touch ${CANARY}\`\r\n\tü 🎉\n`);
const BINARY_BODY = Buffer.from([0x00, 0xff, 0xfe, 0x27, 0x22, 0x0a, 0x24, 0x28, 0x80, 0x41]);
const PATH = "/p/it's/$(id)/%25;x=1?a=1&b=$(id)&c='q'";

function pairs(raw: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

describe('copy-as commands reproduce the request', { skip: requireTools('curl') }, () => {
  let server: Listening;
  let proxy: TestProxy;
  let dir: { path: string; remove(): Promise<void> };
  const seen: Seen[] = [];

  before(async () => {
    dir = await tempDir('mitmscope-copy-run-');
    server = await startHttpServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: pairs(req.rawHeaders), body: Buffer.concat(chunks) });
        res.end('ok');
      });
    });
    proxy = await startProxy();
  });
  after(async () => {
    await proxy.cleanup();
    await server.close();
    await dir.remove();
  });

  /** Sends the request through the proxy with curl and returns the captured copy. */
  async function capture(body: Buffer, marker: string): Promise<CopyRequest> {
    const file = join(dir.path, `${marker}.in`);
    await writeFile(file, body);
    const r = await run('curl', ['-sS', '--proxy', proxy.proxyUrl, '-X', 'PUT', '-H', `X-Hostile: ${HOSTILE}`, '-H', 'Content-Type: application/json', '-H', `X-Marker: ${marker}`, '--data-binary', `@${file}`, '--path-as-is', `http://127.0.0.1:${server.port}${PATH}`]);
    assert.equal(r.code, 0, r.stderr);
    const flow = await flowWhere(proxy, (f) => f.state === 'complete' && f.request.headers.some(([n, v]) => n === 'X-Marker' && v === marker));
    const captured = await proxy.store.readBody(flow.id, 'request');
    assert.deepEqual(captured, body);
    return { method: flow.request.method, url: flow.request.url, headers: flow.request.headers, body: captured, bodyTruncated: flow.request.bodyTruncated };
  }

  async function runFormat(format: CopyFormat, code: string): Promise<RunResult> {
    if (format === 'curl') return run('sh', ['-c', code.replace(/^curl/m, 'curl -sS')], { cwd: dir.path });
    if (format === 'httpie') return run('sh', ['-c', code], { cwd: dir.path });
    if (format === 'python') return run('python3', ['-c', code], { cwd: dir.path });
    return run(process.execPath, ['--input-type=module', '-e', code], { cwd: dir.path });
  }

  /** The headers a command must reproduce: those copy-as keeps (it drops hop-by-hop ones and Host). */
  function expectedHeaders(req: CopyRequest): [string, string][] {
    return req.headers.filter(([n]) => !['host', 'content-length', 'proxy-connection', 'connection', 'accept', 'user-agent'].includes(n.toLowerCase()));
  }

  const cases: { format: CopyFormat; skip: string | false }[] = [
    { format: 'curl', skip: requireTools('curl') },
    { format: 'python', skip: requirePythonModule('requests', 'python3-requests') },
    { format: 'fetch', skip: false },
    { format: 'httpie', skip: requireTool('http', 'httpie') },
  ];
  for (const { format, skip } of cases) {
    for (const kind of ['text', 'binary'] as const) {
      it(`${format} with a ${kind} body`, { skip }, async () => {
        const body = kind === 'text' ? TEXT_BODY : BINARY_BODY;
        const req = await capture(body, `${format}-${kind}`);
        const code = copyAs(format, req);
        if (code.includes(BODY_FILE)) await writeFile(join(dir.path, BODY_FILE), req.body);
        const before = seen.length;
        const r = await runFormat(format, code);
        assert.equal(r.code, 0, `${code}\n${r.stderr}`);
        assert.equal(seen.length, before + 1, 'exactly one request reached the server');
        const got = seen.at(-1)!;
        assert.equal(got.method, 'PUT');
        // fetch sends URLs as the WHATWG URL standard serialises them (it encodes `'` in a query).
        const url = new URL(req.url);
        assert.equal(got.url, format === 'fetch' ? url.pathname + url.search : PATH);
        for (const [name, value] of expectedHeaders(req)) {
          assert.ok(got.headers.some(([n, v]) => n.toLowerCase() === name.toLowerCase() && v === value), `${name}: ${value} reached the server (${JSON.stringify(got.headers)})`);
        }
        assert.deepEqual(got.body, body);
        assert.equal(existsSync(join(dir.path, CANARY)), false, 'nothing from the request ran');
      });
    }
  }

  it('cURL for cmd', { skip: 'needs cmd.exe (Windows), not available here: its quoting is checked by the cmd argv test in copy-as.test.ts' }, () => {});
});
