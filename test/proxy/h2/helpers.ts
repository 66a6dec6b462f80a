import http2, { type ClientHttp2Session, type Http2SecureServer, type SecureServerOptions } from 'node:http2';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyPair } from '../../helpers/pki.js';
import { tlsThroughProxy } from '../../helpers/tunnel.js';
import type { TestProxy } from '../../helpers/servers.js';

export interface H2Server {
  server: Http2SecureServer;
  port: number;
  /** Sessions the server accepted (one per upstream connection). */
  sessions: number;
  close(): Promise<void>;
}

export async function startH2Server(pair: KeyPair, options: SecureServerOptions = {}): Promise<H2Server> {
  const server = http2.createSecureServer({ key: pair.keyPem, cert: pair.certPem, ...options });
  const state = { sessions: 0 };
  const open = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    state.sessions += 1;
    open.add(s);
    s.once('close', () => open.delete(s));
  });
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s: import('node:net').Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as AddressInfo).port,
    get sessions() {
      return state.sessions;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A Node HTTP/2 client session to `authority` through the proxy's CONNECT tunnel, trusting its CA. */
export async function h2ThroughProxy(proxy: TestProxy, authority: string): Promise<ClientHttp2Session> {
  const ca = await readFile(join(proxy.caDir, 'ca.pem'), 'utf8');
  const socket = await tlsThroughProxy(proxy.proxyPort, authority, { ca, servername: authority.replace(/:\d+$/, ''), ALPNProtocols: ['h2'] });
  if (socket.alpnProtocol !== 'h2') throw new Error(`the proxy chose ${String(socket.alpnProtocol)}, not h2`);
  const session = http2.connect(`https://${authority}`, { createConnection: () => socket });
  session.on('error', () => {});
  return session;
}

export interface H2Response {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
  trailers: http2.IncomingHttpHeaders | null;
  rstCode: number;
}

/** One request on a session; resolves when the stream closed, however it ended. */
export function h2Request(session: ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string, trailers?: http2.OutgoingHttpHeaders): Promise<H2Response> {
  return new Promise((resolve) => {
    const req = session.request(headers, { endStream: body === undefined, waitForTrailers: trailers !== undefined });
    const out: H2Response = { status: 0, headers: {}, body: '', trailers: null, rstCode: 0 };
    req.on('response', (h) => {
      out.headers = h;
      out.status = Number(h[':status']);
    });
    req.on('trailers', (t) => (out.trailers = t));
    req.setEncoding('utf8');
    req.on('data', (d: string) => (out.body += d));
    req.on('error', () => {});
    if (trailers) req.on('wantTrailers', () => req.sendTrailers(trailers));
    req.on('close', () => {
      out.rstCode = req.rstCode ?? 0;
      resolve(out);
    });
    if (body !== undefined) req.end(body);
  });
}
