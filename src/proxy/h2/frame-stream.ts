/**
 * The tapped stream under a Node http2 session. Node runs http2 on a JS Duplex through an
 * internal stream socket that asserts nothing is written while its shutdown is pending; a
 * session torn down by a socket *error* writes its GOAWAY right then, which would crash the
 * process. So a failing socket below ends this stream as a plain close: the session then knows
 * its socket is gone and writes nothing more. The error is kept for whoever asks.
 */
import { TappedStream } from '../tapped-stream.js';

export class H2TappedStream extends TappedStream {
  /** Why the socket below failed, when it did. */
  failure: Error | null = null;

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (err) this.failure = err;
    super._destroy(null, callback);
  }
}
