/**
 * Peer intercepting proxies for the side-by-side bench, each run as its own child process
 * (`node dist/bench/peers.js mockttp|http-mitm-proxy '<json>'`) so that its CPU and RSS are
 * sampled alone, exactly like mitmscope's. Both verify the origin against the bench CA and keep
 * upstream connections alive. Prints `proxy http://127.0.0.1:PORT` then `ready`, as mitmscope does.
 */
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { IContext } from 'http-mitm-proxy';

export const PEERS = ['mockttp', 'http-mitm-proxy'] as const;
export type PeerName = (typeof PEERS)[number];

export interface PeerSpec {
  /** PEM file of the origin's CA: the only upstream trust added. */
  upstreamCa: string;
  /** Folder for the peer's own CA and certificates. */
  dir: string;
  /** The origin's port on 127.0.0.1 (http-mitm-proxy routes by the Host header, which carries no port). */
  originPort: number;
}

function announce(port: number): void {
  process.stdout.write(`proxy http://127.0.0.1:${port}\nready\n`);
}

async function startMockttp(spec: PeerSpec): Promise<void> {
  const { getLocal, generateCACertificate } = await import('mockttp');
  const ca = await generateCACertificate();
  // Defaults otherwise: traffic recorded (as mitmscope captures), CONNECT tunnels intercepted.
  const server = getLocal({ https: { key: ca.key, cert: ca.cert } });
  await server.forAnyRequest().thenPassThrough({ additionalTrustedCAs: [{ certPath: spec.upstreamCa }] });
  await server.start();
  announce(server.port);
}

async function startHttpMitmProxy(spec: PeerSpec): Promise<void> {
  const { Proxy } = await import('http-mitm-proxy');
  const proxy = new Proxy();
  const httpsAgent = new https.Agent({ keepAlive: true, ca: readFileSync(spec.upstreamCa) });
  proxy.onError((_ctx, err, kind) => process.stderr.write(`${kind ?? 'error'}: ${err?.message ?? ''}\n`));
  // The client's CONNECT names 127.0.0.1:<origin port>, but http-mitm-proxy dials the Host header's
  // name on 443: point it at the origin (as a hosts file would) and keep the name for SNI and checks.
  proxy.onRequest((ctx: IContext, callback) => {
    const options = ctx.proxyToServerRequestOptions as unknown as https.RequestOptions | undefined;
    if (options && ctx.isSSL) {
      options.servername = String(options.host);
      options.host = '127.0.0.1';
      options.port = spec.originPort;
    }
    callback();
  });
  await new Promise<void>((resolve, reject) => proxy.listen({ host: '127.0.0.1', port: 0, sslCaDir: spec.dir, keepAlive: true, httpsAgent }, (err?: Error | null) => (err ? reject(err) : resolve())));
  const address = (proxy as unknown as { httpServer: import('node:http').Server }).httpServer.address();
  if (address === null || typeof address === 'string') throw new Error('http-mitm-proxy has no TCP address');
  announce(address.port);
}

async function main(): Promise<void> {
  const [name, json] = process.argv.slice(2);
  if (!json || !PEERS.includes(name as PeerName)) throw new Error(`usage: peers.js ${PEERS.join('|')} '<json spec>'`);
  const spec = JSON.parse(json) as PeerSpec;
  if (name === 'mockttp') await startMockttp(spec);
  else await startHttpMitmProxy(spec);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
