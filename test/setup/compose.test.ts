import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireTools } from '../helpers/tools.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COMPOSE_FILE = `${ROOT}docker-compose.yml`;
const DOCKERFILE = `${ROOT}Dockerfile`;
/** `config` needs only docker-compose itself, no Docker engine. */
const NEEDS_COMPOSE = requireTools('docker-compose');

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function envWithout(name: string): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env[name];
  return env;
}

/** The exec-form array of a Dockerfile instruction (`CMD [...]`, `HEALTHCHECK ... CMD [...]`), joined across `\` lines. */
function execForm(dockerfile: string, instruction: RegExp): string[] {
  const joined = dockerfile.replace(/\\\n\s*/g, '');
  const line = joined.split('\n').find((l) => instruction.test(l));
  assert.ok(line, `no ${instruction} line`);
  return JSON.parse(line.slice(line.indexOf('['))) as string[];
}

describe('docker-compose.yml', () => {
  let emptyEnvFile: string;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mitmscope-compose-'));
    emptyEnvFile = join(dir, 'empty.env');
    await writeFile(emptyEnvFile, '');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** `config` with an empty env file, so a developer's own .env beside the compose file cannot change the outcome. */
  const config = (env: NodeJS.ProcessEnv): ReturnType<typeof run> => run('docker-compose', ['--env-file', emptyEnvFile, '-f', COMPOSE_FILE, 'config'], env);

  test('docker-compose config accepts it and publishes both ports on 127.0.0.1 only', { skip: NEEDS_COMPOSE }, async () => {
    const r = await config({ ...process.env, MITMSCOPE_TOKEN: 'compose-test-token' });
    assert.equal(r.code, 0, r.stderr);
    const ports = [...r.stdout.matchAll(/^\s*-\s*['"]?([0-9.]+):(\d+):(\d+)(?:\/tcp)?['"]?\s*$/gm)].map((m) => `${m[1]}:${m[2]}:${m[3]}`);
    assert.deepEqual(ports.sort(), ['127.0.0.1:8080:8080', '127.0.0.1:8081:8081']);
    assert.doesNotMatch(r.stdout, /0\.0\.0\.0:/);
    assert.match(r.stdout, /MITMSCOPE_TOKEN: compose-test-token/);
    assert.match(r.stdout, /- mitmscope-ca:\/data\/ca/);
  });

  test('without MITMSCOPE_TOKEN it refuses to start rather than use a shared default', { skip: NEEDS_COMPOSE }, async () => {
    const r = await config(envWithout('MITMSCOPE_TOKEN'));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /set MITMSCOPE_TOKEN/);
  });

  test('its healthcheck is the image’s, so the two cannot drift apart', async () => {
    const compose = await readFile(COMPOSE_FILE, 'utf8');
    const line = /^\s*test:\s*(\[.*\])\s*$/m.exec(compose);
    assert.ok(line);
    const fromCompose = JSON.parse(line[1]!) as string[];
    assert.deepEqual(fromCompose, ['CMD', ...execForm(await readFile(DOCKERFILE, 'utf8'), /^HEALTHCHECK\b/)]);
  });
});

describe('Dockerfile', () => {
  let dockerfile: string;
  let healthy: http.Server;
  let healthyPort: number;
  let status = 200;

  before(async () => {
    dockerfile = await readFile(DOCKERFILE, 'utf8');
    healthy = http.createServer((_req, res) => {
      res.statusCode = status;
      res.end('mitmscope proxy');
    });
    await new Promise<void>((resolve) => healthy.listen(0, '127.0.0.1', resolve));
    healthyPort = (healthy.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => healthy.close(() => resolve())));

  test('builds in one node:26-bookworm-slim stage (the current LTS) and runs in another as the non-root node user', () => {
    assert.match(dockerfile, /^ARG NODE_IMAGE=node:26-bookworm-slim$/m);
    assert.equal([...dockerfile.matchAll(/^FROM \$\{NODE_IMAGE\}/gm)].length, 2);
    // A native addon without a prebuilt binary for that Node compiles in the build stage, before npm ci.
    const toolchain = dockerfile.search(/apt-get install -y --no-install-recommends python3 make g\+\+/);
    assert.ok(toolchain > 0 && toolchain < dockerfile.indexOf('\nRUN npm ci --no-audit') && toolchain < dockerfile.lastIndexOf('FROM ${NODE_IMAGE}'), 'build tools in the build stage only');
    // `npm ci` runs `prepare`, which needs the sources: they are copied before it.
    const copySources = dockerfile.indexOf('\nCOPY . .\n');
    assert.ok(copySources > 0 && copySources < dockerfile.indexOf('\nRUN npm ci --no-audit'), 'sources copied before npm ci');
    assert.match(dockerfile, /^RUN npm prune --omit=dev/m);
    assert.match(dockerfile, /^COPY --from=build \/app\/node_modules \.\/node_modules$/m);
    assert.match(dockerfile, /^USER node$/m);
    assert.match(dockerfile, /^EXPOSE 8080 8081$/m);
    assert.deepEqual(execForm(dockerfile, /^CMD /), ['node', 'dist/src/cli.js', '--host', '0.0.0.0', '--ca-dir', '/data/ca']);
  });

  test('.dockerignore keeps the CA folder, keys, captures and node_modules out of the build context', async () => {
    const ignored = (await readFile(`${ROOT}.dockerignore`, 'utf8')).split('\n');
    for (const entry of ['ca', 'node_modules', '.git', '**/*.key', '**/*.pem', '**/*.har', '**/*.keylog', '**/.env']) assert.ok(ignored.includes(entry), entry);
  });

  test('the HEALTHCHECK command exits 0 on a 200 and 1 on an error status or a closed port', async () => {
    const [cmd, ...args] = execForm(dockerfile, /^HEALTHCHECK\b/);
    assert.equal(cmd, 'node');
    const at = (port: number): string[] => args.map((a) => a.replace('127.0.0.1:8080', `127.0.0.1:${port}`));
    status = 200;
    assert.equal((await run(cmd, at(healthyPort), process.env)).code, 0);
    status = 503;
    assert.equal((await run(cmd, at(healthyPort), process.env)).code, 1);
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    assert.equal((await run(cmd, at(closedPort), process.env)).code, 1);
  });
});
