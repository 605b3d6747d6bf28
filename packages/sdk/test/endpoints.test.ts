// The endpoint list on its own (issue 14): order of failover, Retry-After honoured per endpoint,
// failback only after a preferred endpoint has stayed ready, and the `url` forms accepted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Endpoints, parseEndpointList } from '../src/endpoints.js';
import { ManualTimers } from './clock.js';

const urls = () => parseEndpointList('http://relay-a:7400, http://relay-b:7400/, http://control:7400/herald');

void describe('endpoints', () => {
  void it('parses a list, a comma-separated string or one URL, keeping path prefixes, refusing repeats', () => {
    assert.deepEqual(
      urls().map((u) => u.href),
      ['http://relay-a:7400/', 'http://relay-b:7400/', 'http://control:7400/herald/'],
    );
    assert.deepEqual(
      parseEndpointList([new URL('https://a/'), 'https://b']).map((u) => u.href),
      ['https://a/', 'https://b/'],
    );
    assert.throws(() => parseEndpointList('http://a, http://a/'), /names http:\/\/a\/ twice/u);
    assert.throws(() => parseEndpointList(' , '), /at least one endpoint/u);
    assert.throws(() => parseEndpointList('ftp://a'), /http: or https:/u);
    assert.throws(() => parseEndpointList(Array.from({ length: 17 }, (_, i) => `http://h${i}`)), /at most 16/u);
  });

  void it('fails over in order, wrapping around, and skips an endpoint that asked to be left alone', () => {
    const clock = new ManualTimers();
    const endpoints = new Endpoints(urls(), clock);
    assert.equal(endpoints.url('v1/watch').href, 'http://relay-a:7400/v1/watch');
    assert.equal(endpoints.failover(undefined)?.to.href, 'http://relay-b:7400/');
    // relay-b sheds with Retry-After 30 s: the control plane next, then relay-a, not relay-b.
    assert.equal(endpoints.failover(30_000)?.to.href, 'http://control:7400/herald/');
    assert.equal(endpoints.url('v1/watch').href, 'http://control:7400/herald/v1/watch');
    assert.equal(endpoints.failover(undefined)?.to.href, 'http://relay-a:7400/');
    assert.equal(endpoints.failover(undefined)?.to.href, 'http://control:7400/herald/', 'relay-b is still waited out');
    clock.advance(30_000);
    assert.equal(endpoints.failover(undefined)?.to.href, 'http://relay-a:7400/');
    assert.equal(endpoints.failover(undefined)?.to.href, 'http://relay-b:7400/', 'its Retry-After is over');
    assert.equal(new Endpoints([new URL('http://only/')], clock).failover(undefined), undefined);
  });

  void it('fails back only to a preferred endpoint that stayed ready for failbackAfterMs, most preferred first', () => {
    const clock = new ManualTimers();
    const endpoints = new Endpoints(urls(), clock, { failbackAfterMs: 60_000 });
    endpoints.failover(undefined);
    endpoints.failover(undefined); // on the control plane now
    assert.deepEqual(
      endpoints.probeTargets().map((t) => t.index),
      [0, 1],
    );
    endpoints.probed(1, true);
    clock.advance(40_000);
    endpoints.probed(0, true);
    clock.advance(20_000);
    assert.equal(endpoints.failbackCandidate(), 1, 'relay-b has been ready for 60 s, relay-a for 20 s');
    // A failed probe starts the count again: a flapping endpoint never qualifies.
    endpoints.probed(1, false);
    assert.equal(endpoints.failbackCandidate(), undefined);
    clock.advance(40_000);
    endpoints.probed(1, true);
    assert.equal(endpoints.failbackCandidate(), 0, 'relay-a: ready for 60 s since its first good probe');
    const moved = endpoints.failback(0);
    assert.deepEqual([moved.from.href, moved.to.href], ['http://control:7400/herald/', 'http://relay-a:7400/']);
    assert.equal(endpoints.since, clock.now());
    assert.deepEqual(endpoints.probeTargets(), [], 'nothing is preferred to the first');
  });
});
