/**
 * SecureContexts that already hold the shared leaf key(s), made ahead of need. Every leaf of a
 * kind has the same key, yet a context built with `tls.createSecureContext({ key, cert })` parses
 * that key again: OpenSSL 3 decodes a PEM private key in ~0.5 ms, a third of what a new host's
 * context costs and paid while the client waits for our ServerHello. Contexts with the key set are
 * kept ready instead, and a new host only adds its certificate chain.
 *
 * They are made once no new host has come for a moment, one per turn of the event loop: made
 * during a stream of new hosts, each would cost a later handshake what it saves this one, so such
 * a stream drains them and gets whole contexts, and a burst after a quiet spell (a page load)
 * finds them ready.
 *
 * Built as `createSecureContext` builds them, with one difference: no root store (`ca: []`),
 * which a server that asks for no client certificate never reads (~0.15 ms less per context).
 * OpenSSL checks that key and certificate match only when the key comes second (a certificate set
 * after a key that does not match silently drops the key), so the first context of a key set is
 * made whole, certificate then key: a mismatch is an error there, and every later leaf of the set
 * has that same public key. When Node's context offers no `setCert`, or none is ready, a context
 * is made whole as before.
 */
import tls, { type SecureContext } from 'node:tls';

/** What a context's native handle offers here (Node types it `any`). */
interface NativeContext {
  setCert(chainPem: string): void;
}

/** Contexts kept ready per key set: a page opening a few new hosts at once finds them made. */
export const KEYED_CONTEXTS_READY = 4;
/** Contexts are made ahead once no new host has come for this long. */
const REFILL_QUIET_MS = 20;

function nativeOf(context: SecureContext): NativeContext | null {
  const native = (context as { context?: Partial<NativeContext> }).context;
  return native && typeof native.setCert === 'function' ? (native as NativeContext) : null;
}

export class KeyedContexts {
  private readonly keys: string[];
  private readonly ready: SecureContext[] = [];
  /** Contexts handed out from the ready ones. */
  private takenReady = 0;
  private refill: NodeJS.Timeout | null = null;
  /**
   * Null until the first context, made whole (which checks the keys against their leaves); then
   * whether this Node's contexts take a chain after the fact, i.e. whether any are made ahead.
   */
  private ahead: boolean | null = null;

  /** `keys`: the PEM private keys every context of this set holds, in the order chains will follow. */
  constructor(keys: string[]) {
    this.keys = keys;
  }

  /**
   * A context holding the keys and `chains` (one PEM chain per key, leaf first, in key order);
   * taken from the ready ones when there is one.
   */
  withChains(chains: string[]): SecureContext {
    const ready = this.ahead ? this.ready.pop() : undefined;
    const context = ready ?? tls.createSecureContext({ key: this.keys, cert: chains, ca: [] });
    if (this.ahead === null) this.ahead = nativeOf(context) !== null;
    if (ready) {
      const native = nativeOf(ready)!;
      for (const chain of chains) native.setCert(chain);
      this.takenReady++;
    }
    this.scheduleRefill(REFILL_QUIET_MS);
    return context;
  }

  /** Contexts made and waiting, and how many were handed out ready. */
  get counts(): { ready: number; taken: number } {
    return { ready: this.ready.length, taken: this.takenReady };
  }

  /** Makes the next context `afterMs` from now; a new host before then starts the wait again. */
  private scheduleRefill(afterMs: number): void {
    if (this.refill) clearTimeout(this.refill);
    this.refill = null;
    if (!this.ahead || this.ready.length >= KEYED_CONTEXTS_READY) return;
    this.refill = setTimeout(() => {
      this.refill = null;
      this.ready.push(tls.createSecureContext({ key: this.keys, ca: [] }));
      // One per turn: I/O that arrives meanwhile is not held up behind a batch of key decoding.
      this.scheduleRefill(0);
    }, afterMs);
    this.refill.unref();
  }
}
