/**
 * ui/src/types.ts mirrors the server's JSON types without importing them (the page does not
 * compile against Node's types). The assignments below make the root type-check fail when the
 * server's shapes drift from what the page reads; the runtime test compares the key sets of a
 * real serialised flow with the page's (complete, compiler-checked) key lists.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFlow, emptyHandshake, emptyRequest, flowToJson, summarize, type FlowJson, type FlowSummary as ServerSummary } from '../../src/capture/flow.js';
import type { StatusJson as ServerStatus } from '../../src/dashboard/api.js';
import type { LiveEvent as ServerLiveEvent } from '../../src/dashboard/live.js';
import type { Rule as ServerRule } from '../../src/rules/types.js';
import type { FlowDetail, FlowSummary, Handshake, LiveEvent, Rule, StatusJson } from '../../ui/src/types.js';

// Compile-time: the server's JSON is assignable to what the page reads.
export const summaryFits = (s: ServerSummary): FlowSummary => s;
export const detailFits = (f: FlowJson): FlowDetail => f;
export const statusFits = (s: ServerStatus): StatusJson => s;
export const liveFits = (e: ServerLiveEvent): LiveEvent => e;
export const ruleFits = (r: ServerRule): Rule => r;
export const ruleSent = (r: Rule): ServerRule => r;

// `Record<keyof T, true>` must name every key, so these lists are complete by construction.
const DETAIL_KEYS: Record<keyof FlowDetail, true> = {
  id: true, kind: true, state: true, startedAt: true, duration: true, scheme: true, host: true, port: true, request: true, response: true,
  error: true, timings: true, clientConnection: true, serverConnection: true, serverIPAddress: true, websocket: true, imported: true, notes: true, http2: true, tls: true,
  paused: true, replayOf: true,
};
const SUMMARY_KEYS: Record<keyof FlowSummary, true> = {
  id: true, kind: true, state: true, method: true, url: true, scheme: true, host: true, status: true, contentType: true, requestSize: true,
  responseSize: true, startedAt: true, duration: true, tlsVersion: true, tlsLeg: true, error: true, imported: true, paused: true, replayOf: true,
};
const HANDSHAKE_KEYS: Record<keyof Handshake, true> = {
  version: true, cipher: true, sni: true, alpn: true, alpnOffered: true, ja3: true, ja3String: true, ja4: true, offeredCiphers: true, group: true,
  certificates: true, events: true, error: true, fallback: true, resumed: true,
};

function keys(o: object): string[] {
  return Object.keys(o).sort();
}

describe('the page types', () => {
  it('name exactly the fields the server sends', () => {
    const flow = createFlow({ kind: 'http', scheme: 'https', host: 'a.example', port: 443, request: emptyRequest('GET', 'https://a.example/'), clientConnection: null });
    flow.clientConnection = { id: 'c', side: 'client', address: '127.0.0.1', port: 5000, host: 'a.example', openedAt: 0, closedAt: null, tls: emptyHandshake() };
    const json = JSON.parse(JSON.stringify(flowToJson(flow))) as Record<string, unknown> & { tls: { client: object } };
    assert.deepEqual(keys(json), keys(DETAIL_KEYS));
    assert.deepEqual(keys(json.tls.client), keys(HANDSHAKE_KEYS));
    assert.deepEqual(keys(JSON.parse(JSON.stringify(summarize(flow))) as object), keys(SUMMARY_KEYS));
  });
});
