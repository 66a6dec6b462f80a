#!/usr/bin/env node
/**
 * Proves the published package stands alone: packs this checkout (`prepare` builds server and
 * dashboard), installs the tarball into a throw-away project the way a user would, starts its
 * `mitmscope` bin on ephemeral ports, and checks that
 *   - the dashboard serves the built UI (not the "not built" page), and
 *   - the proxy intercepts one HTTPS request to a local `openssl s_server`, seen by curl through
 *     the proxy trusting only the installed CA, and listed by the dashboard API.
 *
 *   node .ci/pack-check.mjs            (called by .ci/run after the test suite)
 *
 * Needs npm (registry access for the package's dependencies), openssl and curl.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
/**
 * Dependencies whose install scripts the throw-away project approves, as a user's project must
 * under npm 11: better-sqlite3 builds its native addon in its install script. Approving a
 * package that is not in the tree is harmless, so this holds with or without it.
 */
const APPROVED_INSTALL_SCRIPTS = { 'better-sqlite3': true };
/** Generous bound for one child to print its readiness line on a loaded 2-core machine. */
const READY_TIMEOUT_MS = 60_000;
/** Marker of ui/index.html that the "not built" page lacks: the hashed bundle it loads. */
const BUILT_UI = /<script[^>]+src="\.\/app-[A-Z0-9]+\.js"/;
/** `openssl s_server -www` answers every request with a status page that names itself. */
const UPSTREAM_BODY_MARKER = 's_server';

const scratch = mkdtempSync(join(tmpdir(), 'mitmscope-pack-'));
const children = [];

function log(line) {
  process.stdout.write(`pack-check: ${line}\n`);
}

/** Runs a command to completion; its stderr goes to ours unless `quiet` (openssl's key progress). */
function sh(cmd, args, cwd, quiet = false) {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', quiet ? 'pipe' : 'inherit'] });
}

/** Spawns a long-running child; resolves with the first match of `ready` in its output. */
function startChild(cmd, args, ready, cwd = scratch) {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} not ready after ${READY_TIMEOUT_MS} ms:\n${out}`)), READY_TIMEOUT_MS);
    const onData = (chunk) => {
      out += chunk.toString();
      const m = ready.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolvePromise({ child, match: m, output: () => out });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (err) => reject(err));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited (${code}) before it was ready:\n${out}`));
    });
  });
}

function stopChildren() {
  return Promise.all(
    children.map(
      (child) =>
        new Promise((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', done);
          child.kill('SIGTERM');
        }),
    ),
  );
}

function pack() {
  const dest = join(scratch, 'tarball');
  mkdirSync(dest);
  // `npm pack` runs `prepare`, which builds dist/ and ui/dist/ from this checkout.
  sh('npm', ['pack', '--pack-destination', dest, '--no-audit', '--no-fund'], ROOT);
  const [tgz] = readdirSync(dest).filter((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error('npm pack produced no tarball');
  return join(dest, tgz);
}

function installInto(tgz) {
  const app = join(scratch, 'app');
  mkdirSync(app);
  sh('npm', ['init', '-y'], app);
  const pkgFile = join(app, 'package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
  pkg.allowScripts = APPROVED_INSTALL_SCRIPTS;
  writeFileSync(pkgFile, `${JSON.stringify(pkg, null, 2)}\n`);
  sh('npm', ['install', '--no-audit', '--no-fund', tgz], app);
  return app;
}

function upstreamCertificate() {
  const key = join(scratch, 'upstream.key');
  const cert = join(scratch, 'upstream.pem');
  sh('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-keyout', key, '-out', cert], scratch, true);
  return { key, cert };
}

async function main() {
  const tgz = pack();
  log(`packed ${tgz}`);
  const app = installInto(tgz);
  log(`installed into ${app}`);

  const { key, cert } = upstreamCertificate();
  const upstream = await startChild('openssl', ['s_server', '-accept', '127.0.0.1:0', '-cert', cert, '-key', key, '-www'], /ACCEPT .*:(\d+)/);
  const upstreamPort = Number(upstream.match[1]);

  const caDir = join(scratch, 'ca');
  const bin = join(app, 'node_modules', '.bin', 'mitmscope');
  const proxy = await startChild(bin, ['--port', '0', '--ui-port', '0', '--ca-dir', caDir, '--upstream-ca', cert], /^ready$/m, app);
  const out = proxy.output();
  const proxyUrl = /^proxy\s+(\S+)/m.exec(out)?.[1];
  const dashboard = /^dashboard\s+(\S+)\/\?token=(\S+)/m.exec(out);
  if (!proxyUrl || !dashboard) throw new Error(`mitmscope did not print its addresses:\n${out}`);
  const [, dashboardUrl, token] = dashboard;
  const auth = { authorization: `Bearer ${token}` };
  log(`mitmscope: proxy ${proxyUrl}, dashboard ${dashboardUrl}`);

  const page = await fetch(`${dashboardUrl}/`, { headers: auth });
  const html = await page.text();
  if (page.status !== 200 || !BUILT_UI.test(html)) throw new Error(`the dashboard does not serve the built UI (HTTP ${page.status}):\n${html}`);
  const script = /src="\.\/(app-[A-Z0-9]+\.js)"/.exec(html)[1];
  const bundle = await fetch(`${dashboardUrl}/${script}`, { headers: auth });
  if (bundle.status !== 200 || (await bundle.text()).length === 0) throw new Error(`the dashboard does not serve ${script} (HTTP ${bundle.status})`);
  log(`dashboard serves the built UI (${script})`);

  const target = `https://localhost:${upstreamPort}/`;
  const body = sh('curl', ['-sS', '--fail', '--max-time', '30', '--proxy', proxyUrl, '--cacert', join(caDir, 'ca.pem'), target], scratch);
  if (!body.includes(UPSTREAM_BODY_MARKER)) throw new Error(`unexpected body through the proxy:\n${body}`);
  const flows = await (await fetch(`${dashboardUrl}/api/flows`, { headers: auth })).json();
  // Matched loosely (any field holding the URL) so that the check outlives field renames.
  if (!Array.isArray(flows) || !flows.some((f) => JSON.stringify(f).includes(JSON.stringify(target)))) {
    throw new Error(`the dashboard API does not list the intercepted request:\n${JSON.stringify(flows).slice(0, 2000)}`);
  }
  log(`intercepted ${target} (curl trusted only the installed CA; the flow is listed)`);
}

let failed = false;
try {
  await main();
  log('ok');
} catch (err) {
  failed = true;
  process.stderr.write(`pack-check: FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
} finally {
  await stopChildren();
  rmSync(scratch, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
