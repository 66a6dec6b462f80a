/**
 * A loopback port whose TCP handshake never completes: a python3 listener that never accepts,
 * its backlog filled, so further SYNs go unanswered (what a firewalled or dead host looks like).
 * Node cannot do this itself: libuv accepts every connection at once. Tests using it skip with
 * `requireTools('python3')`.
 */
import { spawn } from 'node:child_process';
import { connect as netConnect, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { stopChild } from './servers.js';

/** `listen(0)` queues one connection; a few more make sure the queue is full on any kernel. */
const BACKLOG_FILLERS = 4;

export async function blackholePort(t: TestContext): Promise<number> {
  const py = spawn('python3', ['-c', 'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(120)'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => stopChild(py));
  const port = await new Promise<number>((resolve) => py.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const fillers: Socket[] = [];
  t.after(() => fillers.forEach((s) => s.destroy()));
  for (let i = 0; i < BACKLOG_FILLERS; i++) {
    const s = netConnect({ host: '127.0.0.1', port });
    s.on('error', () => {});
    fillers.push(s);
  }
  return port;
}
