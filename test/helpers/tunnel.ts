/**
 * Raw client building blocks for fault tests: a CONNECT tunnel on a plain socket, TLS over
 * it, and a byte-exact exchange that collects everything until the peer closes.
 */
import { connect as netConnect, type Socket } from 'node:net';
import tls, { type ConnectionOptions, type TLSSocket } from 'node:tls';

/** Opens a CONNECT tunnel; resolves with the socket once the proxy said 200. */
export function connectTunnel(proxyPort: number, authority: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port: proxyPort }, () => {
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
    });
    socket.setNoDelay(true);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.pause();
      const status = head.subarray(0, end).toString('latin1');
      if (!/^HTTP\/1\.[01] 200/.test(status)) {
        socket.destroy();
        reject(new Error(`CONNECT refused: ${status}`));
        return;
      }
      const rest = head.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** TLS through a CONNECT tunnel; resolves after the handshake (or rejects with its error). */
export async function tlsThroughProxy(proxyPort: number, authority: string, options: ConnectionOptions): Promise<TLSSocket> {
  const raw = await connectTunnel(proxyPort, authority);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ socket: raw, ...options });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', (err) => {
      raw.destroy();
      reject(err);
    });
  });
}

/** Writes `data`, then collects what comes back until the peer closes (or `until` matches). */
export function exchange(socket: Socket | TLSSocket, data: string | Buffer, until?: RegExp): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const finish = (): void => {
      socket.destroy();
      resolve(out);
    };
    socket.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (until?.test(out)) finish();
    });
    socket.once('close', () => resolve(out));
    socket.once('error', () => resolve(out));
    socket.resume();
    if (data.length > 0) socket.write(data);
  });
}
