import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { failedLeg, failedPhase, legOfStage } from '../../ui/src/failure.js';
import { phases } from '../../ui/src/phases.js';

const REFUSED = { blocked: -1, dns: -1, connect: 1.2, ssl: -1, send: -1, wait: -1, receive: -1 };
const TLS_FAILED = { blocked: -1, dns: 0.4, connect: 5, ssl: 3, send: -1, wait: -1, receive: -1 };
const TIMED_OUT = { blocked: 0, dns: -1, connect: -1, ssl: -1, send: 0.2, wait: 1000, receive: -1 };

describe('failure', () => {
  it('draws no bar for phases that never ran', () => {
    assert.deepEqual(phases(REFUSED).map((p) => p.key), ['tcp']);
    assert.deepEqual(phases(TLS_FAILED).map((p) => p.key), ['dns', 'tcp', 'ssl']);
  });

  it('marks the phase the stage failed in', () => {
    assert.equal(failedPhase(phases(REFUSED), 'connect'), 'tcp');
    assert.equal(failedPhase(phases(TLS_FAILED), 'upstream-tls'), 'ssl');
    assert.equal(failedPhase(phases(TIMED_OUT), 'upstream-response'), 'wait');
    assert.equal(failedPhase(phases(TIMED_OUT), 'client-request'), 'wait', 'a hang-up ends the running phase');
    assert.equal(failedPhase([], 'client-tls'), null);
  });

  it('names the leg of a failure from the stage or the summary error', () => {
    assert.equal(legOfStage('connect'), 'server');
    assert.equal(legOfStage('client-tls'), 'client');
    assert.equal(failedLeg('upstream-tls: TLS handshake with a:443 failed'), 'server');
    assert.equal(failedLeg('client-tls: nope'), 'client');
    assert.equal(failedLeg(null), null);
    assert.equal(failedLeg('no stage here'), null);
  });
});
