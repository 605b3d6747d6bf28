// Issue 16: a relay's lag is how far behind the upstream's newest release it is, not how long ago
// the upstream last answered: an idle relay that is current is 0 however quiet its long polls; a
// relay that learned of releases it cannot fetch is behind in releases and seconds; an upstream
// that is gone counts from when it went.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '@herald/core';
import { RelayLag } from '@herald/server';

function setup() {
  const clock = new ManualClock(1_000_000);
  const state = {
    newest: [{ namespace: 'app', seq: 1, createdAt: 1_000_000 }],
    down: undefined as number | undefined,
  };
  const lag = new RelayLag({
    clock,
    sources: { newest: () => state.newest, unreachableSince: () => state.down },
  });
  return { clock, state, lag };
}

void describe('relay lag', () => {
  void it('is 0 and 0 for a current relay, however long its upstream has been quiet', () => {
    const { clock, lag } = setup();
    assert.deepEqual(lag.measure(), [], 'nothing served yet: nothing to be behind on');
    lag.held('app', [''], 1);
    clock.advance(3_600_000);
    assert.deepEqual(lag.measure(), [{ namespace: 'app', releasesBehind: 0, secondsBehind: 0 }]);
  });

  void it('counts the releases it does not hold, and how long the newest has existed without it', () => {
    const { clock, state, lag } = setup();
    lag.held('app', [''], 1);
    lag.held('app', ['', 'prod'], 1);
    state.newest = [{ namespace: 'app', seq: 4, createdAt: 1_000_000 }];
    clock.advance(5_000);
    assert.deepEqual(lag.measure(), [{ namespace: 'app', releasesBehind: 3, secondsBehind: 5 }]);
    // One view caught up, the other not: the relay is as far behind as its slowest view.
    lag.held('app', [''], 4);
    assert.equal(lag.measure()[0]?.releasesBehind, 3);
    lag.held('app', ['', 'prod'], 4);
    assert.deepEqual(lag.measure(), [{ namespace: 'app', releasesBehind: 0, secondsBehind: 0 }]);
  });

  void it('counts from when the upstream went, while it is unreachable', () => {
    const { clock, state, lag } = setup();
    lag.held('app', [''], 1);
    state.down = clock.now();
    clock.advance(42_000);
    assert.deepEqual(lag.measure(), [{ namespace: 'app', releasesBehind: 0, secondsBehind: 42 }]);
    state.down = undefined;
    assert.equal(lag.measure()[0]?.secondsBehind, 0);
  });
});
