/**
 * The `mitmscope` command (started by cli.ts): parses arguments (node:util parseArgs), starts
 * everything, prints where it listens, and stops cleanly on SIGINT/SIGTERM. With cli.ts, the only
 * module that prints or exits.
 */
import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { packageVersion } from './package-info.js';
import { ConfigError, isMitmError } from './errors.js';
import { DEFAULTS, parseBytes, parseMs, parsePort, parseRegex, parseUpstreamTls, validateConfig, type Config } from './config.js';
import { start, type Running } from './app.js';
import { loadOrCreateRootCa } from './ca/root-ca.js';
import { writeCaBundle } from './setup/bundle.js';
import { envExports, parseShell } from './setup/env.js';
import { listSessions, formatSessions } from './capture/session/list.js';
import { describeMend, repairHarFile } from './har/repair.js';

/** In-flight exchanges get this long to finish on SIGINT/SIGTERM. */
const SHUTDOWN_GRACE_MS = 5000;
/** Where sessions go unless --session names one (relative to the working directory). */
const DEFAULT_SESSIONS_DIR = 'sessions';

const HELP = `Usage: mitmscope [options]
       mitmscope env [--shell bash|zsh|fish|powershell] [--host H] [--port P] [--ca-dir DIR]
       mitmscope sessions [DIR]   list the sessions in DIR (default ./sessions)
       mitmscope repair-har FILE  close a HAR recording cut off by a crash after its
                                  last complete entry

An intercepting HTTPS debugging proxy that shows every TLS handshake step.

Options:
  --host HOST            address to listen on (default 127.0.0.1; others need --token)
  --port PORT            proxy port (default 8080; 0 picks a free one)
  --ui-port PORT         dashboard port (default 8081)
  --no-ui                do not start the dashboard
  --ui-host NAME         extra Host name the dashboard accepts (repeatable)
  --ca-dir DIR           root CA folder (default ./ca; created on first start)
  --upstream-tls V       TLS toward servers: 1.2 (default), 1.3 or auto
  --upstream-ca FILE     extra CA (PEM) to trust for upstream servers (repeatable)
  --insecure             do not verify upstream certificates
  --ignore-hosts REGEX   tunnel matching hosts untouched (repeatable)
  --auto-passthrough     tunnel hosts whose clients reject our certificate
  --lazy                 connect upstream at the first request, not during the
                         client's handshake (the default saves a round of latency)
  --har FILE             record every exchange to a HAR file as it completes
  --har-append           add to an existing HAR file instead of refusing
  --redact               replace cookies and Authorization in HAR exports and recordings
  --redact-header NAME   also redact this header (repeatable; implies --redact)
  --load FILE            show the entries of a HAR file as flows (repeatable)
  --keylog FILE          append NSS key log lines (Wireshark) for both legs
  --session DIR          open or create the session folder captures are stored in
                         (default: a new sessions/YYYYMMDD-HHMMSS under this folder)
  --store-size BYTES     disk budget of the session; the oldest flows are evicted
                         past it (default 2GiB)
  --max-body BYTES       bytes of each body kept (default 64MiB)
  --token TOKEN          dashboard token (default: random; or MITMSCOPE_TOKEN)
  --connect-timeout MS   upstream TCP+TLS connect timeout (default 10000)
  --headers-timeout MS   upstream response headers timeout (default 60000)
  --body-timeout MS      upstream body inactivity timeout (default 60000)
  --client-headers-timeout MS  client request headers timeout (default 30000)
  --rules FILE           load rules (a JSON array) at start; see README "Change traffic"
  --pause-timeout MS     a paused exchange is answered 504 after this (default 300000)
  --serve-har FILE       answer requests recorded in a HAR file from it (method, URL,
                         and body unless GET/HEAD; repeats in recorded order)
  --serve-har-strict     with --serve-har: answer 404 to requests not in the file
  --no-http2             offer clients only HTTP/1.1 by ALPN (default: h2 and http/1.1)
  --no-tls-tap           do not observe handshakes from the bytes (benchmarks only:
                         measures what the tap costs; the TLS view loses most events)
  --no-heap-tuning       keep V8's default heap sizing (more memory; for comparison)
  -h, --help             show this help
  -v, --version          print the version
`;

const OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  'ui-port': { type: 'string' },
  'no-ui': { type: 'boolean' },
  'ui-host': { type: 'string', multiple: true },
  'ca-dir': { type: 'string' },
  'upstream-tls': { type: 'string' },
  'upstream-ca': { type: 'string', multiple: true },
  insecure: { type: 'boolean' },
  'ignore-hosts': { type: 'string', multiple: true },
  'auto-passthrough': { type: 'boolean' },
  'no-tls-tap': { type: 'boolean' },
  'no-http2': { type: 'boolean' },
  'no-heap-tuning': { type: 'boolean' },
  lazy: { type: 'boolean' },
  har: { type: 'string' },
  'har-append': { type: 'boolean' },
  redact: { type: 'boolean' },
  'redact-header': { type: 'string', multiple: true },
  load: { type: 'string', multiple: true },
  keylog: { type: 'string' },
  'max-body': { type: 'string' },
  'store-size': { type: 'string' },
  session: { type: 'string' },
  token: { type: 'string' },
  'connect-timeout': { type: 'string' },
  'headers-timeout': { type: 'string' },
  'body-timeout': { type: 'string' },
  'client-headers-timeout': { type: 'string' },
  rules: { type: 'string' },
  'pause-timeout': { type: 'string' },
  'serve-har': { type: 'string' },
  'serve-har-strict': { type: 'boolean' },
  shell: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

export type Command =
  | { kind: 'run'; config: Config; warnings: string[] }
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'env'; config: Config; shell: string }
  | { kind: 'sessions'; dir: string }
  | { kind: 'repair-har'; file: string };

/** Default session folder name: the local start time, sortable (`20261201-143005`). */
export function sessionName(now = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
}

export function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv = process.env): Command {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new ConfigError(`${(err as Error).message.replace(/\. To specify.*$/s, '')} (see --help)`);
  }
  const { values: v, positionals } = parsed;
  if (v.help) return { kind: 'help' };
  if (v.version) return { kind: 'version' };
  const sub = positionals[0];
  if (sub === 'sessions') return { kind: 'sessions', dir: resolve(positionals[1] ?? DEFAULT_SESSIONS_DIR) };
  if (sub === 'repair-har') {
    const file = positionals[1];
    if (file === undefined || positionals.length > 2) throw new ConfigError('repair-har needs exactly one FILE');
    return { kind: 'repair-har', file: resolve(file) };
  }
  if (sub !== undefined && sub !== 'env') throw new ConfigError(`unknown command "${sub}" (see --help)`);
  const config: Config = {
    ...DEFAULTS,
    host: v.host ?? DEFAULTS.host,
    port: v.port !== undefined ? parsePort('port', v.port) : DEFAULTS.port,
    uiPort: v['ui-port'] !== undefined ? parsePort('ui-port', v['ui-port']) : DEFAULTS.uiPort,
    ui: !v['no-ui'],
    uiHosts: v['ui-host'] ?? [],
    caDir: resolve(v['ca-dir'] ?? DEFAULTS.caDir),
    upstreamTls: v['upstream-tls'] !== undefined ? parseUpstreamTls(v['upstream-tls']) : DEFAULTS.upstreamTls,
    upstreamCa: (v['upstream-ca'] ?? []).map((f) => resolve(f)),
    insecure: v.insecure ?? false,
    ignoreHosts: (v['ignore-hosts'] ?? []).map((r) => parseRegex('ignore-hosts', r)),
    autoPassthrough: v['auto-passthrough'] ?? false,
    observeTls: !v['no-tls-tap'],
    http2: !v['no-http2'],
    eagerUpstream: !v.lazy,
    har: v.har !== undefined ? resolve(v.har) : null,
    harAppend: v['har-append'] ?? false,
    redact: v.redact || v['redact-header'] ? { headers: v['redact-header'] ?? [] } : null,
    load: (v.load ?? []).map((f) => resolve(f)),
    keylog: v.keylog !== undefined ? resolve(v.keylog) : null,
    maxBody: v['max-body'] !== undefined ? parseBytes('max-body', v['max-body']) : DEFAULTS.maxBody,
    storeSize: v['store-size'] !== undefined ? parseBytes('store-size', v['store-size']) : DEFAULTS.storeSize,
    session: resolve(v.session ?? join(DEFAULT_SESSIONS_DIR, sessionName())),
    token: v.token ?? env['MITMSCOPE_TOKEN'] ?? null,
    connectTimeout: v['connect-timeout'] !== undefined ? parseMs('connect-timeout', v['connect-timeout']) : DEFAULTS.connectTimeout,
    headersTimeout: v['headers-timeout'] !== undefined ? parseMs('headers-timeout', v['headers-timeout']) : DEFAULTS.headersTimeout,
    bodyTimeout: v['body-timeout'] !== undefined ? parseMs('body-timeout', v['body-timeout']) : DEFAULTS.bodyTimeout,
    clientHeadersTimeout: v['client-headers-timeout'] !== undefined ? parseMs('client-headers-timeout', v['client-headers-timeout']) : DEFAULTS.clientHeadersTimeout,
    rules: v.rules !== undefined ? resolve(v.rules) : null,
    pauseTimeout: v['pause-timeout'] !== undefined ? parseMs('pause-timeout', v['pause-timeout']) : DEFAULTS.pauseTimeout,
    serveHar: v['serve-har'] !== undefined ? resolve(v['serve-har']) : null,
    serveHarStrict: v['serve-har-strict'] ?? false,
  };
  if (config.serveHarStrict && config.serveHar === null) throw new ConfigError('--serve-har-strict needs --serve-har FILE');
  if (config.har !== null && config.har === '') throw new ConfigError('--har needs a file name');
  if (sub === 'env') return { kind: 'env', config, shell: v.shell ?? 'bash' };
  const warnings = validateConfig(config);
  return { kind: 'run', config, warnings };
}


/** `mitmscope env`: exports that route a terminal through a proxy started with the same options. */
async function environment(config: Config, shellName: string): Promise<string> {
  const shell = parseShell(shellName);
  const rootCa = await loadOrCreateRootCa(config.caDir);
  const bundle = await writeCaBundle(config.caDir, rootCa.certPem);
  // A proxy listening on every address is reached from this machine through loopback.
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host === '::' ? '::1' : config.host;
  const proxyUrl = `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
  return envExports({ proxyUrl, caPem: rootCa.paths.pem, bundle, shell });
}

/** One line for a failure: what went wrong, then the stable code scripts can match on. */
function errorLine(err: unknown, prefix = ''): string {
  const code = isMitmError(err) ? ` [${err.code}]` : '';
  return `mitmscope: ${prefix}${(err as Error).message}${code}\n`;
}

export async function main(): Promise<void> {
  let command: Command;
  try {
    command = parseCommandLine(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(errorLine(err));
    process.exit(2);
  }
  if (command.kind === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (command.kind === 'version') {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  if (command.kind === 'sessions') {
    process.stdout.write(formatSessions(command.dir, await listSessions(command.dir)));
    return;
  }
  if (command.kind === 'repair-har') {
    try {
      const { entries, mend } = await repairHarFile(command.file);
      process.stdout.write(mend ? `${describeMend(command.file, mend)}\n` : `${command.file} is a complete HAR (${entries} ${entries === 1 ? 'entry' : 'entries'}): nothing to repair\n`);
    } catch (err) {
      process.stderr.write(errorLine(err));
      process.exit(1);
    }
    return;
  }
  if (command.kind === 'env') {
    try {
      process.stdout.write(await environment(command.config, command.shell));
    } catch (err) {
      process.stderr.write(errorLine(err));
      process.exit(isMitmError(err) && err.code === 'MITM_ERR_CONFIG' ? 2 : 1);
    }
    return;
  }
  for (const w of command.warnings) process.stderr.write(`mitmscope: warning: ${w}\n`);
  // Handlers first: a signal that arrives while starting must not kill us half-started.
  let running: Running | null = null;
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`mitmscope: ${signal}: stopping\n`);
    if (!running) return; // start() finishes, then sees `stopping`.
    running.close(SHUTDOWN_GRACE_MS).then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`mitmscope: error while stopping: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  try {
    running = await start(command.config);
  } catch (err) {
    process.stderr.write(errorLine(err, 'cannot start: '));
    process.exit(1);
  }
  if (stopping) {
    await running.close();
    process.exit(0);
  }
  const out = process.stdout;
  out.write(`mitmscope ${packageVersion()}\n`);
  out.write(`proxy      ${running.proxyUrl}\n`);
  if (running.dashboardUrl) out.write(`dashboard  ${running.dashboardUrl}/?token=${running.token}\n`);
  out.write(`CA         ${running.rootCa.paths.pem}\n`);
  out.write(`CA SHA-256 ${running.rootCa.fingerprint256}\n`);
  if (running.store.dir) out.write(`session    ${running.store.dir} (${running.store.size} flows)\n`);
  if (running.rootCa.created) out.write('           (new CA created: trust it in your browser or tool, or pass --cacert to curl)\n');
  for (const w of running.rootCa.warnings) process.stderr.write(`mitmscope: warning: ${w}\n`);
  if (running.recorder?.mend) process.stderr.write(`mitmscope: warning: ${describeMend(running.recorder.path, running.recorder.mend)}\n`);
  out.write('ready\n');
}
