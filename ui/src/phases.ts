/**
 * HAR timings → waterfall segments. HAR 1.2 counts `ssl` inside `connect`, so the TCP part is
 * `connect − ssl` and TLS follows it; -1 phases (did not happen) are left out. Pure for tests.
 */
import type { Timings } from './types.js';

export interface Phase {
  key: keyof Timings | 'tcp';
  label: string;
  start: number;
  ms: number;
}

export function phases(t: Timings): Phase[] {
  const out: Phase[] = [];
  let at = 0;
  const add = (key: Phase['key'], label: string, ms: number) => {
    if (!(ms >= 0)) return;
    out.push({ key, label, start: at, ms });
    at += ms;
  };
  add('blocked', 'Blocked', t.blocked);
  add('dns', 'DNS lookup', t.dns);
  if (t.connect >= 0) add('tcp', 'TCP connect', t.ssl >= 0 ? Math.max(0, t.connect - t.ssl) : t.connect);
  add('ssl', 'TLS handshake', t.ssl);
  add('send', 'Send request', t.send);
  add('wait', 'Wait (TTFB)', t.wait);
  add('receive', 'Receive response', t.receive);
  return out;
}

