/**
 * A proxy auto-config (PAC) file: browsers and system proxy settings that take a PAC URL send
 * everything through mitmscope except the `--ignore-hosts` patterns, which go DIRECT.
 * Pure: options in, script text out; the dashboard serves it at `/proxy.pac`.
 */
import { isIP } from 'node:net';
import { ConfigError } from '../errors.js';

/** The MIME type browsers expect for PAC files (Netscape's original name, still the one used). */
export const PAC_CONTENT_TYPE = 'application/x-ns-proxy-autoconfig';

export interface PacOptions {
  /** Address the *browser* can reach the proxy at (not 0.0.0.0). */
  proxyHost: string;
  proxyPort: number;
  ignoreHosts: RegExp[];
}

const MAX_PORT = 65535;
const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;
/**
 * Flags carried into the PAC. `g` and `y` would make `test()` stateful (lastIndex) and `d` is
 * useless there; the CLI only ever sets `i`.
 */
const KEPT_FLAGS = /[imsu]/g;

/** A JavaScript string literal. JSON's is one, except that engines before ES2019 (Windows'
 * WinHTTP among PAC hosts) end a string at a raw U+2028/U+2029. */
function jsString(text: string): string {
  return JSON.stringify(text).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function proxyAddress(host: string, port: number): string {
  if (!Number.isInteger(port) || port < 1 || port > MAX_PORT) throw new ConfigError(`the PAC proxy port must be between 1 and ${MAX_PORT}, got ${port}`);
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (bare === '0.0.0.0' || bare === '::') throw new ConfigError(`the PAC needs an address browsers can reach, not ${host}`);
  if (isIP(bare) === 6) return `[${bare}]:${port}`;
  if (isIP(host) === 4 || HOST_NAME.test(host)) return `${host}:${port}`;
  throw new ConfigError(`"${host}" is not a host name or address for the PAC file`);
}

/**
 * `FindProxyForURL` mirrors the proxy's own `isIgnored`: a pattern matches the host or
 * `host:port` (IPv6 hosts in brackets). ES3 only, as some PAC engines are that old.
 * No `; DIRECT` fallback: traffic must not silently escape capture while mitmscope runs, and
 * when it is stopped the PAC URL itself fails and browsers go direct anyway.
 */
export function pacScript(opts: PacOptions): string {
  const proxy = `PROXY ${proxyAddress(opts.proxyHost, opts.proxyPort)}`;
  const patterns = opts.ignoreHosts.map((re) => `  new RegExp(${jsString(re.source)}, ${jsString((re.flags.match(KEPT_FLAGS) ?? []).join(''))})`);
  return String.raw`// mitmscope proxy auto-config: everything through the proxy, --ignore-hosts DIRECT.
var MITMSCOPE_PROXY = ${jsString(proxy)};
var MITMSCOPE_IGNORE = [
${patterns.join(',\n')}
];
var MITMSCOPE_DEFAULT_PORTS = { http: "80", ws: "80", https: "443", wss: "443", ftp: "21" };

function mitmscopePort(url) {
  var m = /^([A-Za-z][A-Za-z0-9+.\-]*):\/\/(?:[^\/?#@]*@)?(\[[^\]]*\]|[^\/?#:]*)(?::(\d+))?/.exec(url);
  if (!m) return "";
  var scheme = m[1].toLowerCase();
  return m[3] || (MITMSCOPE_DEFAULT_PORTS.hasOwnProperty(scheme) ? MITMSCOPE_DEFAULT_PORTS[scheme] : "");
}

function FindProxyForURL(url, host) {
  var h = host.indexOf(":") >= 0 && host.charAt(0) !== "[" ? "[" + host + "]" : host;
  var port = mitmscopePort(url);
  for (var i = 0; i < MITMSCOPE_IGNORE.length; i++) {
    if (MITMSCOPE_IGNORE[i].test(h) || (port !== "" && MITMSCOPE_IGNORE[i].test(h + ":" + port))) return "DIRECT";
  }
  return MITMSCOPE_PROXY;
}
`;
}
