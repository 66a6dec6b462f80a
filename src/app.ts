/**
 * Composes a running mitmscope from a validated Config: CA, minter, store, proxy, dashboard,
 * HAR recorder. Tests start it in-process; the CLI starts it and prints where things listen.
 */
import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { ConfigError } from './errors.js';
import type { Config } from './config.js';
import { loadOrCreateRootCa, type RootCa } from './ca/root-ca.js';
import { CertificateMinter } from './ca/mint.js';
import { FlowStore } from './capture/store.js';
import { ProxyServer } from './proxy/server.js';
import { openKeylog, type KeylogWriter } from './tls/keylog.js';
import { HarRecorder } from './har/recorder.js';
import { harToFlows } from './har/mapping.js';
import type { Flow } from './capture/flow.js';
import { startDashboard, type Dashboard } from './dashboard/server.js';
import { join } from 'node:path';
import { packageRoot } from './package-info.js';
import { caPageHandler } from './setup/ca-page.js';
import { pacScript, PAC_CONTENT_TYPE } from './setup/pac.js';
import { RuleSet } from './rules/rule-set.js';
import { Breakpoints } from './rules/breakpoints.js';
import { JsonFileRules, readRulesFile } from './rules/persist.js';
import type { RuleHooks } from './rules/hold.js';
import { HarReplay } from './rules/serve-har.js';

/** Random dashboard tokens: 128 bits, URL-safe. */
const TOKEN_BYTES = 16;

export interface Running {
  config: Config;
  rootCa: RootCa;
  minter: CertificateMinter;
  store: FlowStore;
  proxy: ProxyServer;
  proxyUrl: string;
  proxyPort: number;
  token: string;
  /** Dashboard base URL, null with --no-ui. */
  dashboardUrl: string | null;
  dashboard: Dashboard | null;
  recorder: HarRecorder | null;
  rules: RuleSet;
  breakpoints: Breakpoints;
  /** Stops everything; in-flight exchanges get up to `graceMs` to finish. */
  close(graceMs?: number): Promise<void>;
}

async function readCaFiles(files: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`--upstream-ca ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`--upstream-ca ${file} holds no PEM certificate`);
    out.push(text);
  }
  return out;
}

async function loadHar(file: string): Promise<Flow[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`--load ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return harToFlows(text);
  } catch (err) {
    throw new ConfigError(`--load ${file}: ${(err as Error).message}`);
  }
}

export function reachableHost(bound: string): string {
  return bound === '0.0.0.0' ? '127.0.0.1' : bound === '::' ? '::1' : bound;
}

function urlHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/** Rules live in the session folder, so reopening a session brings its rules back. */
const RULES_FILE = 'rules.json';

/** Saved rules, replaced by --rules when given; a bad rule stops start-up with its index, field and reason. */
async function loadRules(config: Config): Promise<RuleSet> {
  const file = config.session ? join(config.session, RULES_FILE) : null;
  const rules = new RuleSet(file ? new JsonFileRules(file) : null);
  try {
    await rules.load();
    if (config.rules) {
      const given = await readRulesFile(config.rules);
      if (given === null) throw new ConfigError(`--rules ${config.rules} does not exist`);
      await rules.replaceAll(given);
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${config.rules ? `--rules ${config.rules}` : `rules file ${file}`}: ${(err as Error).message}`);
  }
  return rules;
}

export async function start(config: Config): Promise<Running> {
  const extraCa = await readCaFiles(config.upstreamCa);
  const rootCa = await loadOrCreateRootCa(config.caDir);
  const minter = await CertificateMinter.create(rootCa);
  const loaded: Flow[] = [];
  for (const file of config.load) loaded.push(...(await loadHar(file)));
  const store = new FlowStore({ session: config.session, maxBytes: config.storeSize });
  const token = config.token ?? randomBytes(TOKEN_BYTES).toString('base64url');
  for (const flow of loaded) store.add(flow);
  let recorder: HarRecorder | null = null;
  let keylog: KeylogWriter | null = null;
  let rules: RuleSet;
  let serveHar: HarReplay | null;
  try {
    // After the store: the rules file is in the session folder, which the store has checked.
    rules = await loadRules(config);
    serveHar = config.serveHar ? await HarReplay.load(config.serveHar, config.serveHarStrict) : null;
    // The recorder subscribes before any traffic so that no completed exchange is missed.
    recorder = config.har ? await HarRecorder.open(config.har, { append: config.harAppend, store, redact: config.redact }) : null;
    keylog = config.keylog ? await openKeylog(config.keylog) : null;
  } catch (err) {
    await recorder?.close().catch(() => {});
    await store.close();
    throw err;
  }
  const breakpoints = new Breakpoints(config.pauseTimeout);
  const hooks: RuleHooks = { rules, breakpoints, serveHar };
  const proxy = new ProxyServer({
    config,
    store,
    minter,
    keylog: keylog ? (line) => keylog.write(line) : null,
    extraCa,
    // In memory: a read-only CA folder may hold only ca.pem and ca.key.
    caPage: caPageHandler({ pem: rootCa.paths.pem, cer: rootCa.certDer, p12: rootCa.p12 }, rootCa.fingerprint256),
    rules: hooks,
  });
  let dashboard: Dashboard | null = null;
  let addr: AddressInfo;
  try {
    addr = await proxy.listen();
    if (config.ui) {
      dashboard = await startDashboard({
        store,
        host: config.host,
        port: config.uiPort,
        token,
        uiHosts: config.uiHosts,
        caFiles: { pem: rootCa.paths.pem, cer: rootCa.paths.cer, p12: rootCa.paths.p12 },
        uiDir: join(packageRoot(), 'ui', 'dist'),
        recording: config.har ? { path: config.har } : null,
        harStatus: recorder ? () => recorder.status() : null,
        redact: config.redact,
        passthrough: proxy.passthrough,
        rules: {
          store,
          rules,
          breakpoints,
          replay: { upstream: proxy.upstream, maxBody: config.maxBody, headersTimeout: config.headersTimeout, bodyTimeout: config.bodyTimeout },
        },
        pac: {
          contentType: PAC_CONTENT_TYPE,
          // Clients reach a proxy bound to every address through loopback, as `env` says.
          script: () => pacScript({ proxyHost: reachableHost(config.host), proxyPort: addr.port, ignoreHosts: config.ignoreHosts }),
        },
      });
    }
  } catch (err) {
    await proxy.close().catch(() => {});
    await recorder?.close().catch(() => {});
    await keylog?.close();
    await store.close();
    throw err;
  }
  return {
    config,
    rootCa,
    minter,
    store,
    proxy,
    proxyUrl: `http://${urlHost(addr.address)}:${addr.port}`,
    proxyPort: addr.port,
    token,
    dashboardUrl: dashboard?.url ?? null,
    dashboard,
    recorder,
    rules,
    breakpoints,
    async close(graceMs = 0) {
      // Paused exchanges would hold the grace period for nothing: nobody resumes them now.
      breakpoints.close();
      await proxy.close(graceMs);
      await dashboard?.close();
      // After the proxy: the last exchanges complete first, then the file is finished.
      await recorder?.close();
      await keylog?.close();
      // Last: everything above may still announce flows, which the store writes before closing.
      await store.close();
    },
  };
}
