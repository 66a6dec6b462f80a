/**
 * A websocket client done by hand on a `net` socket, so a test can stop reading entirely (the
 * kernel buffers fill and the server sees backpressure) and later read and parse what arrived.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import type { FlowSummary } from '../../src/capture/flow.js';
import type { LiveMessage } from '../../src/dashboard/live.js';

const HEADER_END = '\r\n\r\n';
/** RFC 6455 §5.2 opcodes the server sends us. */
const OPCODE_TEXT = 1;
const OPCODE_CLOSE = 8;

export interface RawClient {
  socket: net.Socket;
  status: number;
  /** Bytes after the handshake response not read yet. */
  leftover: Buffer;
}

/** Performs the upgrade handshake and leaves the socket paused right after the response head. */
export function rawUpgrade(port: number, path: string, headers: Record<string, string>): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf(HEADER_END);
      if (end < 0) return;
      socket.pause();
      socket.off('data', onData);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head.subarray(0, end).toString('latin1'))?.[1] ?? 0);
      resolve({ socket, status, leftover: head.subarray(end + HEADER_END.length) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: localhost:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
      'Sec-WebSocket-Version: 13',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    socket.write(`${lines.join('\r\n')}${HEADER_END}`);
  });
}

export interface Received {
  messages: LiveMessage[];
  bytes: number;
  closeCode: number | null;
  /** The server ended or reset the connection. */
  ended: boolean;
}

/** Resumes reading and parses frames until the connection ends or stays quiet for `quietMs`. */
export function drain(client: RawClient, quietMs: number): Promise<Received> {
  return new Promise((resolve) => {
    const { socket } = client;
    let buf = client.leftover;
    let bytes = buf.length;
    const out: Received = { messages: [], bytes: 0, closeCode: null, ended: false };
    let timer: NodeJS.Timeout | null = null;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      socket.off('data', onData);
      parse();
      out.bytes = bytes;
      resolve(out);
    };
    const parse = (): void => {
      for (;;) {
        if (buf.length < 2) return;
        const opcode = buf[0]! & 0x0f;
        let len = buf[1]! & 0x7f;
        let offset = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          offset = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          offset = 10;
        }
        if (buf.length < offset + len) return;
        const payload = buf.subarray(offset, offset + len);
        if (opcode === OPCODE_TEXT) out.messages.push(JSON.parse(payload.toString('utf8')) as LiveMessage);
        else if (opcode === OPCODE_CLOSE && payload.length >= 2) out.closeCode = payload.readUInt16BE(0);
        buf = buf.subarray(offset + len);
      }
    };
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      parse();
      if (timer) clearTimeout(timer);
      timer = setTimeout(finish, quietMs);
    };
    socket.on('data', onData);
    socket.once('end', () => {
      out.ended = true;
      finish();
    });
    socket.once('close', () => {
      out.ended = true;
      finish();
    });
    socket.on('error', () => {
      out.ended = true;
    });
    timer = setTimeout(finish, quietMs);
    socket.resume();
  });
}

/** What a UI does with the feed: the flow table after applying every message in order. */
export function replay(messages: readonly LiveMessage[], state = new Map<string, FlowSummary>()): Map<string, FlowSummary> {
  for (const msg of messages) {
    if (msg.type === 'snapshot') {
      state.clear();
      for (const f of msg.flows) state.set(f.id, f);
      continue;
    }
    for (const e of msg.events) {
      if (e.type === 'flow' || e.type === 'flow-update') state.set(e.flow.id, e.flow);
      else if (e.type === 'flow-evicted') state.delete(e.id);
      else if (e.type === 'cleared') state.clear();
    }
  }
  return state;
}
