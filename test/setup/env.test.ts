import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envExports, envVariables, parseShell, SHELLS, type EnvOptions, type Shell } from '../../src/setup/env.js';
import { writeCaBundle } from '../../src/setup/bundle.js';
import { TestCa } from '../helpers/pki.js';
import { requirePythonModule, requireTool, requireTools } from '../helpers/tools.js';

/** Every character a shell might treat specially, plus PowerShell's curly single quotes. */
const NASTY = `/tmp/my dir/it's "quoted" $HOME \`id\` \\back\\ ; & | * ? ~ # ‘curly’ ‚low‛ ünï`;
const MULTILINE = '/tmp/line one\nline two';

const OPTS: Omit<EnvOptions, 'shell'> = { proxyUrl: 'http://127.0.0.1:8080', caPem: `${NASTY}/ca.pem`, bundle: `${NASTY}/bundle.pem` };

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The environment a child starts from: ours without anything `mitmscope env` sets or the test runner adds. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const [name] of envVariables(OPTS)) delete env[name];
  delete env['NODE_TEST_CONTEXT'];
  delete env['NODE_OPTIONS'];
  return env;
}

/** `env -0` output as a map (values may hold newlines). */
function parseEnv0(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of text.split('\0')) {
    const i = entry.indexOf('=');
    if (i > 0) map.set(entry.slice(0, i), entry.slice(i + 1));
  }
  return map;
}

/** Decoders written from each shell's documented single-quote rules, for shells not installed here. */
function decodeFish(quoted: string): string {
  assert.match(quoted, /^'.*'$/s);
  return quoted.slice(1, -1).replace(/\\([\\'])/g, '$1');
}
function decodePowerShell(quoted: string): string {
  assert.match(quoted, /^'.*'$/s);
  return quoted.slice(1, -1).replace(/(['\u2018\u2019\u201A\u201B])\1/g, '$1');
}

describe('mitmscope env output', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mitmscope-env-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('sets the proxy in both cases, empties NO_PROXY, adds the CA for Node and points every trust-replacing variable at the bundle', () => {
    const vars = new Map(envVariables(OPTS));
    for (const name of ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy']) assert.equal(vars.get(name), 'http://127.0.0.1:8080');
    assert.equal(vars.get('NO_PROXY'), '');
    assert.equal(vars.get('no_proxy'), '');
    assert.equal(vars.get('NODE_EXTRA_CA_CERTS'), OPTS.caPem);
    assert.equal(vars.get('NODE_USE_ENV_PROXY'), '1');
    for (const name of ['SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO', 'AWS_CA_BUNDLE', 'DENO_CERT', 'CARGO_HTTP_CAINFO', 'PIP_CERT']) {
      assert.equal(vars.get(name), OPTS.bundle, name);
    }
  });

  test('NO_PROXY lists the hosts given and refuses entries that would split or inject', () => {
    const vars = new Map(envVariables({ ...OPTS, noProxy: ['mitmscope.internal', '.corp.example', '10.0.0.0/8', '[::1]:8081'] }));
    assert.equal(vars.get('NO_PROXY'), 'mitmscope.internal,.corp.example,10.0.0.0/8,[::1]:8081');
    for (const bad of ['a,b', 'a b', "x'; rm -rf /", '']) {
      assert.throws(() => envVariables({ ...OPTS, noProxy: [bad] }), { code: 'MITM_ERR_CONFIG' }, bad);
    }
  });

  test('a NUL in a path is refused: no shell can carry it', () => {
    assert.throws(() => envVariables({ ...OPTS, caPem: '/tmp/a\0b' }), { code: 'MITM_ERR_CONFIG' });
  });

  test('parseShell accepts the four shells and names them in its error', () => {
    for (const s of SHELLS) assert.equal(parseShell(s), s);
    assert.throws(() => parseShell('tcsh'), (err: Error & { code?: string }) => err.code === 'MITM_ERR_CONFIG' && /bash, zsh, fish, powershell/.test(err.message));
  });

  test('every shell gets its own syntax, one statement a line after # comments, and an undo line', () => {
    const first: Record<Shell, RegExp> = {
      bash: /^export HTTP_PROXY='http:\/\/127\.0\.0\.1:8080'$/m,
      zsh: /^export HTTP_PROXY='http:\/\/127\.0\.0\.1:8080'$/m,
      fish: /^set -gx HTTP_PROXY 'http:\/\/127\.0\.0\.1:8080'$/m,
      powershell: /^\$env:HTTP_PROXY = 'http:\/\/127\.0\.0\.1:8080'$/m,
    };
    for (const shell of SHELLS) {
      const text = envExports({ ...OPTS, shell });
      assert.match(text, first[shell], shell);
      assert.ok(text.endsWith('\n'));
      const statements = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
      assert.equal(statements.length, envVariables(OPTS).length, shell);
      assert.match(text, /^# undo: .*SSL_CERT_FILE/m);
      assert.match(text, /^# .*undici.*EnvHttpProxyAgent/m, 'the Node 20 fetch note');
    }
  });

  test('fish and PowerShell quoting round-trips quotes, backslashes, curly quotes and newlines', () => {
    for (const value of [NASTY, MULTILINE]) {
      const vars = envVariables({ ...OPTS, bundle: value });
      const fish = envExports({ ...OPTS, bundle: value, shell: 'fish' });
      const ps = envExports({ ...OPTS, bundle: value, shell: 'powershell' });
      const fishValue = /^set -gx PIP_CERT ('.*?')$/ms.exec(fish)?.[1];
      const psValue = /^\$env:PIP_CERT = ('.*?')$/ms.exec(ps)?.[1];
      assert.ok(fishValue && psValue);
      assert.equal(decodeFish(fishValue), value);
      assert.equal(decodePowerShell(psValue), value);
      assert.equal(new Map(vars).get('PIP_CERT'), value);
    }
  });

  for (const [shell, binary] of [
    ['bash', 'bash'],
    ['bash', 'dash'],
    ['zsh', 'zsh'],
  ] as const) {
    test(`${shell} output evaluated by ${binary} sets exactly the values, with spaces, quotes and newlines intact`, { skip: requireTool(binary, binary) }, async () => {
      for (const value of [NASTY, MULTILINE]) {
        const file = join(dir, `env.${binary}`);
        const opts = { ...OPTS, caPem: value, bundle: `${value}/b`, noProxy: ['mitmscope.internal'] };
        await writeFile(file, envExports({ ...opts, shell }));
        const r = await run(binary, ['-c', `eval "$(cat "$1")" && env -0`, binary, file], cleanEnv());
        assert.equal(r.code, 0, r.stderr);
        const seen = parseEnv0(r.stdout);
        for (const [name, expected] of envVariables(opts)) assert.equal(seen.get(name), expected, name);
        assert.equal(seen.get('HOME'), process.env['HOME'], 'nothing escaped its quotes');
      }
    });
  }

  test('fish output sourced by fish sets the values', { skip: requireTools('fish') }, async () => {
    const file = join(dir, 'env.fish');
    await writeFile(file, envExports({ ...OPTS, shell: 'fish' }));
    const r = await run('fish', ['-c', `source ${file}; env -0`], cleanEnv());
    assert.equal(r.code, 0, r.stderr);
    const seen = parseEnv0(r.stdout);
    for (const [name, expected] of envVariables(OPTS)) if (expected !== '') assert.equal(seen.get(name), expected, name);
  });

  test('PowerShell output run by pwsh sets the values', { skip: requireTools('pwsh') }, async () => {
    const file = join(dir, 'env.ps1');
    await writeFile(file, envExports({ ...OPTS, shell: 'powershell' }));
    const r = await run('pwsh', ['-NoProfile', '-Command', `. '${file.replaceAll("'", "''")}'; [Environment]::GetEnvironmentVariable('PIP_CERT')`], cleanEnv());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), OPTS.bundle);
  });
});

/** A minimal CONNECT-only proxy that records targets and only ever dials loopback. */
async function startConnectProxy(): Promise<{ url: string; targets: string[]; close(): Promise<void> }> {
  const targets: string[] = [];
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const server: Server = createServer((client) => {
    track(client);
    client.on('error', () => client.destroy());
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      const m = /^CONNECT (localhost|127\.0\.0\.1):(\d+) HTTP\/1\.[01]\r\n/.exec(head);
      if (!m) {
        client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
        return;
      }
      targets.push(`${m[1]}:${m[2]}`);
      const upstream = connect(Number(m[2]), '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        const rest = Buffer.from(head.slice(end + 4), 'latin1');
        if (rest.length) upstream.write(rest);
        client.pipe(upstream).pipe(client);
      });
      track(upstream);
      upstream.on('error', () => client.destroy());
    };
    client.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    targets,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('real clients after eval "$(mitmscope env)"', () => {
  const ca = new TestCa();
  const pair = ca.issue(['localhost', '127.0.0.1']);
  let dir: string;
  let server: https.Server;
  let port: number;
  let proxy: Awaited<ReturnType<typeof startConnectProxy>>;
  let envFile: string;
  const serverSockets = new Set<Socket>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mitmscope-env-real-'));
    server = https.createServer({ key: pair.keyPem, cert: pair.certPem }, (req, res) => res.end(`hello ${req.url}`));
    server.on('connection', (s: Socket) => {
      serverSockets.add(s);
      s.once('close', () => serverSockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    proxy = await startConnectProxy();
    const caPem = join(dir, 'ca.pem');
    await writeFile(caPem, ca.certPem);
    const bundle = await writeCaBundle(dir, ca.certPem);
    envFile = join(dir, 'env.sh');
    await writeFile(envFile, envExports({ proxyUrl: proxy.url, caPem, bundle, shell: 'bash' }));
  });
  after(async () => {
    for (const s of serverSockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await proxy.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs `command` in bash after evaluating the env file (or not, for the control). */
  function inShell(command: string, withEnv = true): Promise<RunResult> {
    const script = withEnv ? `eval "$(cat "$1")" && ${command}` : command;
    return run('bash', ['-c', script, 'bash', envFile], cleanEnv());
  }

  test('control: without the variables curl rejects the local server (exit 60, unknown issuer)', { skip: requireTools('curl') }, async () => {
    const r = await inShell(`curl -sS --max-time 10 https://localhost:${port}/control`, false);
    assert.equal(r.code, 60, r.stderr);
  });

  test('curl with no flags goes through HTTPS_PROXY to a localhost server and trusts it via the bundle', { skip: requireTools('curl') }, async () => {
    const before = proxy.targets.length;
    const r = await inShell(`curl -sS --max-time 10 https://localhost:${port}/curl`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello /curl');
    assert.deepEqual(proxy.targets.slice(before), [`localhost:${port}`]);
  });

  test('python3 requests goes through the proxy and trusts the server via REQUESTS_CA_BUNDLE', { skip: requirePythonModule('requests', 'python3-requests') }, async () => {
    const before = proxy.targets.length;
    const py = `import requests; print(requests.get("https://localhost:${port}/requests", timeout=10).text, end="")`;
    const r = await inShell(`python3 -c '${py}'`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello /requests');
    assert.deepEqual(proxy.targets.slice(before), [`localhost:${port}`]);
  });

  test('python3 urllib (OpenSSL defaults) goes through the proxy and trusts the server via SSL_CERT_FILE', { skip: requireTools('python3') }, async () => {
    const before = proxy.targets.length;
    const py = `import urllib.request; print(urllib.request.urlopen("https://127.0.0.1:${port}/urllib", timeout=10).read().decode(), end="")`;
    const r = await inShell(`python3 -c '${py}'`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello /urllib');
    assert.deepEqual(proxy.targets.slice(before), [`127.0.0.1:${port}`]);
  });

  test('node fetch trusts the server via NODE_EXTRA_CA_CERTS; Node 20 ignores HTTPS_PROXY, Node 24 uses it (NODE_USE_ENV_PROXY)', async () => {
    const before = proxy.targets.length;
    const js = `fetch("https://localhost:${port}/node").then((r) => r.text()).then((t) => process.stdout.write(t))`;
    const r = await inShell(`node -e '${js}'`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello /node');
    const major = Number(process.versions.node.split('.')[0]);
    // Node before 22.21 ignores HTTPS_PROXY (fetch honours it from 22.21 and 24.0): pinned so an upgrade shows.
    if (major >= 24) assert.deepEqual(proxy.targets.slice(before), [`localhost:${port}`]);
    else if (major < 22) assert.deepEqual(proxy.targets.slice(before), []);
  });
});
