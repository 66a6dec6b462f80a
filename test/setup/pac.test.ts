import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { isIgnored } from '../../src/config.js';
import { PAC_CONTENT_TYPE, pacScript, type PacOptions } from '../../src/setup/pac.js';

type FindProxy = (url: string, host: string) => string;

/** Evaluates a PAC the way a browser does: a fresh global scope, then FindProxyForURL(url, host). */
function load(opts: PacOptions): FindProxy {
  const context: { FindProxyForURL?: FindProxy } = {};
  runInNewContext(pacScript(opts), context, { timeout: 1000 });
  assert.equal(typeof context.FindProxyForURL, 'function');
  return context.FindProxyForURL!;
}

const BASE = { proxyHost: '127.0.0.1', proxyPort: 8080 };
const PROXY = 'PROXY 127.0.0.1:8080';

describe('the PAC script', () => {
  test('its content type is the one browsers expect', () => {
    assert.equal(PAC_CONTENT_TYPE, 'application/x-ns-proxy-autoconfig');
  });

  test('without --ignore-hosts every URL goes through the proxy, with no DIRECT fallback', () => {
    const find = load({ ...BASE, ignoreHosts: [] });
    for (const [url, host] of [
      ['https://example.com/', 'example.com'],
      ['http://myhost.test:3000/a?b', 'myhost.test'],
      ['wss://10.1.2.3:8443/', '10.1.2.3'],
    ] as const) {
      assert.equal(find(url, host), PROXY);
    }
  });

  test('hosts matching an ignore pattern go DIRECT, case-insensitively as the CLI compiles them', () => {
    const find = load({ ...BASE, ignoreHosts: [/^bank\.example$/i, /\.internal$/i] });
    assert.equal(find('https://bank.example/', 'bank.example'), 'DIRECT');
    assert.equal(find('https://BANK.example/', 'BANK.example'), 'DIRECT');
    assert.equal(find('https://a.b.internal/x', 'a.b.internal'), 'DIRECT');
    assert.equal(find('https://www.bank.example/', 'www.bank.example'), PROXY);
    assert.equal(find('https://internal.example/', 'internal.example'), PROXY);
  });

  test('a pattern may match host:port, with the scheme’s default port when the URL has none', () => {
    const find = load({ ...BASE, ignoreHosts: [/:8443$/, /^api\.test:443$/] });
    assert.equal(find('https://a.test:8443/', 'a.test'), 'DIRECT');
    assert.equal(find('https://a.test/', 'a.test'), PROXY);
    assert.equal(find('https://api.test/', 'api.test'), 'DIRECT');
    assert.equal(find('http://api.test/', 'api.test'), PROXY);
    assert.equal(find('https://user:pw@api.test/', 'api.test'), 'DIRECT');
  });

  test('it decides exactly as the proxy’s own isIgnored for the same patterns', () => {
    const ignoreHosts = [/^localhost$/i, /\.corp$/i, /:9443$/i, /^\[::1\]/i, /^10\./i];
    const find = load({ ...BASE, ignoreHosts });
    const cases: Array<[string, string, number]> = [
      ['https://localhost/', 'localhost', 443],
      ['https://svc.corp:8443/', 'svc.corp', 8443],
      ['https://any.where:9443/', 'any.where', 9443],
      ['http://any.where/', 'any.where', 80],
      ['https://[::1]:8443/', '::1', 8443],
      ['https://10.0.0.5/', '10.0.0.5', 443],
      ['https://110.0.0.5/', '110.0.0.5', 443],
      ['https://example.com/', 'example.com', 443],
    ];
    for (const [url, host, port] of cases) {
      const proxyHost = host.includes(':') ? `[${host}]` : host;
      const expected = isIgnored({ ignoreHosts }, proxyHost, port) ? 'DIRECT' : PROXY;
      assert.equal(find(url, host), expected, url);
    }
  });

  test('pattern text cannot break out of the script: quotes, backslashes, line separators, slashes', () => {
    const nasty = [new RegExp('^a"b\\\\c$'), new RegExp("'\\); return 'DIRECT'; //"), new RegExp('x\u2028y'), new RegExp('</script>/')];
    const script = pacScript({ ...BASE, ignoreHosts: nasty });
    assert.ok(!script.includes('\u2028'));
    const find = load({ ...BASE, ignoreHosts: nasty });
    assert.equal(find('https://example.com/', 'example.com'), PROXY);
    assert.equal(find('https://a"b\\c/', 'a"b\\c'), 'DIRECT');
  });

  test('a global-flag pattern gives the same answer every time (no lastIndex state)', () => {
    const find = load({ ...BASE, ignoreHosts: [/skip/g] });
    for (let i = 0; i < 4; i++) assert.equal(find('https://skip.test/', 'skip.test'), 'DIRECT');
  });

  test('IPv6 and named proxy hosts are written as browsers parse them', () => {
    assert.equal(load({ proxyHost: '::1', proxyPort: 8080, ignoreHosts: [] })('https://a/', 'a'), 'PROXY [::1]:8080');
    assert.equal(load({ proxyHost: '[::1]', proxyPort: 8080, ignoreHosts: [] })('https://a/', 'a'), 'PROXY [::1]:8080');
    assert.equal(load({ proxyHost: 'devbox.lan', proxyPort: 3128, ignoreHosts: [] })('https://a/', 'a'), 'PROXY devbox.lan:3128');
  });

  test('an unreachable or malformed proxy address is refused with MITM_ERR_CONFIG', () => {
    for (const [proxyHost, proxyPort] of [
      ['0.0.0.0', 8080],
      ['::', 8080],
      ['a b', 8080],
      ['x";alert(1);"', 8080],
      ['127.0.0.1', 0],
      ['127.0.0.1', 70000],
      ['127.0.0.1', 80.5],
    ] as const) {
      assert.throws(() => pacScript({ proxyHost, proxyPort, ignoreHosts: [] }), { code: 'MITM_ERR_CONFIG' }, `${proxyHost}:${proxyPort}`);
    }
  });
});
