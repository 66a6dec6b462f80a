/**
 * HTTP/2 frames arriving live for the connections an open flow shows. The frames view watches
 * its connection; each `h2-frames` event of the feed is applied to that connection's record in
 * place (listed events appended, counters replaced, the flow's stream timings updated), so the
 * view re-renders only itself. Pure (no DOM) so node:test covers it.
 */
import type { H2FramesEvent, Http2Connection, Http2Stream } from './types.js';

/**
 * Applies one update to a connection's record and to the flow's streams on it. False when the
 * update starts past the events the record holds: some were skipped, the flow must be refetched.
 */
export function applyFrames(h2: Http2Connection, streams: readonly Http2Stream[], update: H2FramesEvent): boolean {
  const known = h2.events.length;
  if (update.first > known) return false;
  // Events the record already holds (a refetch raced the feed) are not added twice.
  for (let i = known - update.first; i < update.events.length; i++) h2.events.push(update.events[i]!);
  h2.dropped = Math.max(h2.dropped, update.dropped);
  h2.streams = Math.max(h2.streams, update.streams);
  h2.windowUpdates = update.windowUpdates;
  for (const timing of update.timings) {
    const mine = streams.find((s) => s.connectionId === update.connectionId && s.streamId === timing.streamId);
    if (mine) {
      mine.sides = timing.sides;
      mine.reset = timing.reset;
    }
  }
  return true;
}

/** A watcher applies an update and says whether it could (see `applyFrames`). */
export type FramesWatcher = (update: H2FramesEvent) => boolean;

export class FramesWatch {
  private readonly watchers = new Map<string, Set<FramesWatcher>>();

  /** Calls `watcher` with each update of the connection until the returned function is called. */
  watch(connectionId: string, watcher: FramesWatcher): () => void {
    let set = this.watchers.get(connectionId);
    if (!set) this.watchers.set(connectionId, (set = new Set()));
    set.add(watcher);
    return () => {
      set.delete(watcher);
      if (set.size === 0) this.watchers.delete(connectionId);
    };
  }

  /** Hands an update to its connection's watchers; false when one of them missed events. */
  dispatch(update: H2FramesEvent): boolean {
    const set = this.watchers.get(update.connectionId);
    if (!set) return true;
    let whole = true;
    for (const watcher of set) whole = watcher(update) && whole;
    return whole;
  }
}

/** The page's one registry, fed by the flow list as it applies live batches. */
export const framesWatch = new FramesWatch();
