/**
 * What `mitmscope env` prints: shell statements that send a terminal's HTTP(S) clients through
 * the proxy and make them trust its CA. Pure: options in, text out; the CLI prints it.
 */
import { ConfigError } from '../errors.js';

export const SHELLS = ['bash', 'zsh', 'fish', 'powershell'] as const;
export type Shell = (typeof SHELLS)[number];

export interface EnvOptions {
  /** The proxy's URL, e.g. `http://127.0.0.1:8080`. */
  proxyUrl: string;
  /** Path of the CA certificate alone (`ca.pem`). */
  caPem: string;
  /** Path of the bundle: the usual roots plus our CA (see `writeCaBundle`). */
  bundle: string;
  shell: Shell;
  /**
   * Hosts that skip the proxy. Default: none, and the variable is set (to empty) rather than
   * left alone, because inherited lists usually hold `localhost`, which would hide local servers.
   */
  noProxy?: string[];
}

/** Variables that *add* our CA to a tool's own roots: the CA alone is enough. */
const ADDITIVE_TRUST = ['NODE_EXTRA_CA_CERTS'] as const;

/**
 * Variables that *replace* a tool's whole trust store, so they point at the bundle: with our CA
 * alone every site reached directly (NO_PROXY, or the proxy stopped) would fail verification.
 */
const REPLACING_TRUST = [
  'SSL_CERT_FILE', // OpenSSL's default file: Python's ssl, Ruby, Go on Linux, many C tools
  'REQUESTS_CA_BUNDLE', // Python requests (otherwise certifi's copy)
  'CURL_CA_BUNDLE', // curl, before its compiled-in bundle path; requests reads it too
  'GIT_SSL_CAINFO', // git over https
  'AWS_CA_BUNDLE', // AWS CLI and SDKs
  'DENO_CERT', // Deno
  'CARGO_HTTP_CAINFO', // cargo
  'PIP_CERT', // pip's own --cert setting
] as const;

/**
 * Lines printed before the statements (every supported shell comments with `#`). They carry no
 * option values, so nothing a user passes can end a comment early.
 */
const NODE_NOTES = [
  '# Node: NODE_EXTRA_CA_CERTS makes it trust the CA. With NODE_USE_ENV_PROXY=1, Node 22.21+ and 24.5+',
  '# also send fetch() and http(s) through HTTPS_PROXY; Node 20 ignores the proxy variables:',
  "# for fetch(), install the 'undici' package (v7 supports Node 20) and preload",
  "#   import { setGlobalDispatcher, EnvHttpProxyAgent } from 'undici'; setGlobalDispatcher(new EnvHttpProxyAgent());",
  '# with NODE_OPTIONS=--import=/path/to/that-file.mjs (see docs/SETUP.md).',
];

/** An RFC 3986 host, IPv6 literal, `*`, or `.suffix`: what curl, requests and Go accept in NO_PROXY. */
const NO_PROXY_ENTRY = /^(\*|\.?[A-Za-z0-9_.-]+|\[?[0-9A-Fa-f:.]+\]?)(:\d{1,5})?(\/\d{1,3})?$/;

/** The variables in the order they are printed, as `[name, value]` pairs. */
export function envVariables(opts: Omit<EnvOptions, 'shell'>): Array<[string, string]> {
  const noProxy = opts.noProxy ?? [];
  for (const entry of noProxy) {
    if (!NO_PROXY_ENTRY.test(entry)) throw new ConfigError(`NO_PROXY entry "${entry}" is not a host name, address or .domain`);
  }
  const vars: Array<[string, string]> = [];
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY']) {
    // curl reads only lower-case http_proxy (httpoxy, CVE-2016-5385); others read either case.
    vars.push([name, opts.proxyUrl], [name.toLowerCase(), opts.proxyUrl]);
  }
  vars.push(['NO_PROXY', noProxy.join(',')], ['no_proxy', noProxy.join(',')]);
  // Ignored before Node 22.21; from 22.21 and 24.5 on it is what makes Node honour HTTPS_PROXY.
  vars.push(['NODE_USE_ENV_PROXY', '1']);
  for (const name of ADDITIVE_TRUST) vars.push([name, opts.caPem]);
  for (const name of REPLACING_TRUST) vars.push([name, opts.bundle]);
  for (const [name, value] of vars) {
    // No shell can put a NUL into the environment; refuse rather than print a truncated value.
    if (value.includes('\0')) throw new ConfigError(`the value for ${name} contains a NUL character`);
  }
  return vars;
}

/** POSIX single quotes: nothing is special inside them but the quote itself. */
function quotePosix(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** fish single quotes: backslash escapes only `\` and `'`. */
function quoteFish(value: string): string {
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/** PowerShell single quotes: a quote is doubled, and PowerShell takes the curly quotes as quotes too. */
function quotePowerShell(value: string): string {
  return `'${value.replace(/['\u2018\u2019\u201A\u201B]/g, (q) => q + q)}'`;
}

function statement(shell: Shell, name: string, value: string): string {
  switch (shell) {
    case 'bash':
    case 'zsh':
      return `export ${name}=${quotePosix(value)}`;
    case 'fish':
      return `set -gx ${name} ${quoteFish(value)}`;
    case 'powershell':
      // Assigning '' deletes the variable in PowerShell: for NO_PROXY that has the same effect.
      return `$env:${name} = ${quotePowerShell(value)}`;
  }
}

function undo(shell: Shell, names: string[]): string {
  switch (shell) {
    case 'bash':
    case 'zsh':
      return `# undo: unset ${names.join(' ')}`;
    case 'fish':
      return `# undo: set -e ${names.join(' ')}`;
    case 'powershell':
      // Windows names are case-insensitive: removing HTTP_PROXY also removed http_proxy.
      return `# undo: Remove-Item ${names.map((n) => `Env:${n}`).join(', ')} -ErrorAction SilentlyContinue`;
  }
}

function evalHint(shell: Shell): string {
  switch (shell) {
    case 'bash':
    case 'zsh':
      return '# apply with: eval "$(mitmscope env)"';
    case 'fish':
      return '# apply with: mitmscope env --shell fish | source';
    case 'powershell':
      return '# apply with: mitmscope env --shell powershell | Out-String | Invoke-Expression';
  }
}

/** The text `mitmscope env` prints for `opts.shell`, one statement a line, ending with a newline. */
export function envExports(opts: EnvOptions): string {
  const vars = envVariables(opts);
  const lines = [
    '# mitmscope: send this shell\'s HTTP(S) clients through the proxy and trust its CA.',
    evalHint(opts.shell),
    '# NO_PROXY is set, not inherited: inherited lists usually skip localhost and would hide local servers.',
    ...NODE_NOTES,
    ...vars.map(([name, value]) => statement(opts.shell, name, value)),
    undo(opts.shell, [...new Set(vars.map(([name]) => name))]),
  ];
  return `${lines.join('\n')}\n`;
}

/** Validates a `--shell` value. */
export function parseShell(value: string): Shell {
  const found = SHELLS.find((s) => s === value);
  if (!found) throw new ConfigError(`--shell must be one of ${SHELLS.join(', ')}, got "${value}"`);
  return found;
}
