import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, before, after } from 'node:test';
import { runInNewContext } from 'node:vm';
import { copyAs, BODY_FILE, type CopyRequest } from '../../ui/src/copy-as.js';
import { cmd, posix, pyBytes, pyStr } from '../../ui/src/shell-quote.js';
import { run, tempDir } from '../helpers/servers.js';
import { requireTools } from '../helpers/tools.js';

const CANARY = 'copy-as-canary';
/** Every way a shell, cmd or a template could be tricked into running something. */
const HOSTILE = `it's "q" $(touch ${CANARY}) \`touch ${CANARY}\` \${HOME} %PATH% !PATH! ^ & | < > ; \\ \\" 100%`;
const BODY = `line 1 ${HOSTILE}\nline 2 'single' "double"\r\n\ttab — ünïcödé 🎉\n`;

function request(over: Partial<CopyRequest> = {}): CopyRequest {
  return {
    method: 'POST',
    url: "https://api.example.com/p/it's/$(id)/%25?a=1&b=$(id)",
    headers: [
      ['Host', 'api.example.com'],
      ['Connection', 'keep-alive'],
      ['Proxy-Authorization', 'Basic c2VjcmV0'],
      ['Content-Length', '99'],
      ['Content-Type', 'text/plain'],
      ['X-Hostile', HOSTILE],
      ['X-Empty', ''],
      ['x-dup', 'a'],
      ['x-dup', 'b'],
    ],
    body: new TextEncoder().encode(BODY),
    bodyTruncated: false,
    ...over,
  };
}

/** The argv a POSIX shell gives `tool` when it runs `command`, with `tool` replaced by a printer. */
async function posixArgv(tool: string, command: string, cwd: string): Promise<string[]> {
  const r = await run('sh', ['-c', `cd ${posix(cwd)} && ${tool}() { printf '%s\\0' "$@"; }\n${command}`]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\0').slice(0, -1);
}

/**
 * What a program started from cmd.exe receives: cmd's caret pass (outside quotes cmd honours
 * `^`; the command never opens a cmd quote since its quotes are `^"`), then the MS C runtime's
 * argv rules (2n backslashes + quote: n backslashes and a quote toggle; 2n+1: n and a literal quote).
 */
function cmdArgv(line: string): string[] {
  let afterCmd = '';
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === '^') afterCmd += line[++i] ?? '';
    else {
      assert.ok(!/[&|<>()!"]/.test(ch), `unescaped cmd metacharacter ${ch} in ${line}`);
      afterCmd += ch;
    }
  }
  assert.ok(!/%[A-Za-z0-9_]/.test(line.replace(/\^./g, '')), `a %NAME could expand in ${line}`);
  const argv: string[] = [];
  let current: string | null = null;
  let quoted = false;
  for (let i = 0; i < afterCmd.length; ) {
    const ch = afterCmd[i]!;
    if (ch === ' ' && !quoted) {
      if (current !== null) argv.push(current);
      current = null;
      i++;
      continue;
    }
    current ??= '';
    if (ch === '\\') {
      let n = 0;
      while (afterCmd[i] === '\\') {
        n++;
        i++;
      }
      if (afterCmd[i] === '"') {
        current += '\\'.repeat(Math.floor(n / 2));
        if (n % 2 === 1) current += '"';
        else quoted = !quoted;
        i++;
      } else current += '\\'.repeat(n);
      continue;
    }
    if (ch === '"') quoted = !quoted;
    else current += ch;
    i++;
  }
  if (current !== null) argv.push(current);
  assert.equal(quoted, false, 'quotes are balanced');
  return argv;
}

describe('quoting', () => {
  it('cmd quoting round-trips hostile text through the caret and C runtime rules', () => {
    for (const s of [HOSTILE, 'a\\', 'a\\\\"b', '%PATH%', '"', '']) assert.deepEqual(cmdArgv(`x ${cmd(s)}`), ['x', s]);
  });

  it('Python literals are ASCII and exact', { skip: requireTools('python3') }, async () => {
    const text = `${HOSTILE}\n\u00e9\u2028🎉`;
    const bytes = new Uint8Array([0, 0x27, 0x5c, 0x80, 0xff, 0x41]);
    const code = `import sys\nassert ${pyStr(text)} == bytes.fromhex(${pyStr(Buffer.from(text).toString('hex'))}).decode()\nassert ${pyBytes(bytes)} == bytes.fromhex('${Buffer.from(bytes).toString('hex')}')\nprint('ok')`;
    assert.ok(/^[\x20-\x7e\n]*$/.test(code));
    const r = await run('python3', ['-c', code]);
    assert.equal(r.stdout.trim(), 'ok', r.stderr);
  });
});

describe('copy as', () => {
  let dir: { path: string; remove(): Promise<void> };
  before(async () => {
    dir = await tempDir('mitmscope-copy-');
  });
  after(() => dir.remove());

  it('cURL for POSIX shells passes hostile values as literal arguments and runs nothing', async () => {
    const argv = await posixArgv('curl', copyAs('curl', request()), dir.path);
    assert.deepEqual(argv, [
      '-X', 'POST',
      '--url', "https://api.example.com/p/it's/$(id)/%25?a=1&b=$(id)",
      '-H', 'Content-Type: text/plain',
      '-H', `X-Hostile: ${HOSTILE}`,
      '-H', 'X-Empty;',
      '-H', 'x-dup: a',
      '-H', 'x-dup: b',
      '--data-raw', BODY,
    ]);
    assert.equal(existsSync(join(dir.path, CANARY)), false);
  });

  it('a binary or non-UTF-8 body becomes a file reference with a note', async () => {
    const text = copyAs('curl', request({ body: new Uint8Array([0x66, 0xff, 0xfe, 0x00, 0x0a]), headers: [] }));
    assert.match(text, /^# the body is binary \(5 bytes\)/);
    const argv = await posixArgv('curl', text, dir.path);
    assert.deepEqual(argv.slice(-4), ['-H', 'Content-Type:', '--data-binary', `@${BODY_FILE}`]);
  });

  it('a truncated body is never sent as if complete', () => {
    for (const format of ['curl', 'curl-cmd', 'httpie', 'fetch', 'python'] as const) {
      assert.match(copyAs(format, request({ bodyTruncated: true })), /the captured body is truncated/, format);
    }
  });

  it('header names that are not tokens are left out, so `-H @file` cannot happen', async () => {
    const text = copyAs('curl', request({ headers: [['@/etc/passwd', 'x'], ['X-Ok', '1']], body: new Uint8Array() }));
    assert.match(text, /1 header\(s\) with an invalid name were left out/);
    const argv = await posixArgv('curl', text, dir.path);
    assert.deepEqual(argv, ['-X', 'POST', '--url', "https://api.example.com/p/it's/$(id)/%25?a=1&b=$(id)", '-H', 'X-Ok: 1']);
  });

  it('a method or URL a tool could read as an option is refused, in every format', () => {
    for (const format of ['curl', 'curl-cmd', 'httpie', 'fetch', 'python'] as const) {
      assert.match(copyAs(format, request({ method: '-o/tmp/x' })), /^(#|REM|\/\/) the method is not a valid HTTP method/, format);
      assert.match(copyAs(format, request({ url: 'example.com:443' })), /only http:\/\/ and https:\/\/ requests can be copied/, format);
      assert.match(copyAs(format, request({ url: 'https://a.example/\nrm -rf x' })), /only http:\/\//, format);
    }
  });

  it('GET and HEAD need no -X; curl globs are switched off', async () => {
    const get = await posixArgv('curl', copyAs('curl', request({ method: 'GET', url: 'http://a.example/[1-2]', headers: [], body: new Uint8Array() })), dir.path);
    assert.deepEqual(get, ['--globoff', '--url', 'http://a.example/[1-2]']);
    const head = await posixArgv('curl', copyAs('curl', request({ method: 'HEAD', headers: [], body: new Uint8Array() })), dir.path);
    assert.equal(head[0], '--head');
  });

  it('cURL for cmd escapes every metacharacter and moves a multi-line body to a file', () => {
    const text = copyAs('curl-cmd', request());
    const lines = text.split('\r\n');
    assert.match(lines[0]!, /^REM the body has line breaks/);
    const command = lines.at(-1)!;
    assert.deepEqual(cmdArgv(command), ['curl', '-X', 'POST', '--url', "https://api.example.com/p/it's/$(id)/%25?a=1&b=$(id)", '-H', 'Content-Type: text/plain', '-H', `X-Hostile: ${HOSTILE}`, '-H', 'X-Empty;', '-H', 'x-dup: a', '-H', 'x-dup: b', '--data-binary', `@${BODY_FILE}`]);
  });

  it('fetch keeps the exact values and bytes, and skips headers fetch refuses', async () => {
    const seen: { url: string; init: { method: string; headers: [string, string][]; body: string | Uint8Array } }[] = [];
    const fetch = (url: string, init: (typeof seen)[0]['init']) => {
      seen.push({ url, init });
      return Promise.resolve();
    };
    const withReferer = request({ headers: [...request().headers, ['Referer', 'https://x.example/']] });
    await runInNewContext(`(async () => {\n${copyAs('fetch', withReferer)}\n})()`, { fetch, atob, Uint8Array });
    const binary = new Uint8Array([0, 0xff, 0x80, 0x27]);
    await runInNewContext(`(async () => {\n${copyAs('fetch', request({ body: binary }))}\n})()`, { fetch, atob, Uint8Array });
    assert.equal(seen[0]!.url, request().url);
    assert.equal(seen[0]!.init.body, BODY);
    // The values come from another realm: compare them as JSON.
    assert.equal(JSON.stringify(seen[0]!.init.headers), JSON.stringify([['Content-Type', 'text/plain'], ['X-Hostile', HOSTILE], ['X-Empty', ''], ['x-dup', 'a'], ['x-dup', 'b']]));
    assert.deepEqual([...(seen[1]!.init.body as Uint8Array)], [...binary]);
  });

  it('HTTPie items keep values literal, including a leading separator', async () => {
    const text = copyAs('httpie', request({ headers: [['X-Hostile', HOSTILE], ['X-Json', '=1'], ['X-Empty', '']] }));
    const argv = await posixArgv('http', text, dir.path);
    assert.deepEqual(argv, ['--ignore-stdin', '--raw', BODY, 'POST', request().url, `X-Hostile:${HOSTILE.replace(/\\/g, '\\\\')}`, 'X-Json:\\=1', 'X-Empty;']);
    assert.equal(existsSync(join(dir.path, CANARY)), false);
  });
});
