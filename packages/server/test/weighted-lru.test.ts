// The view cache's LRU: bounded by count and by weight, the least recently used going first, the
// newest always kept, and its weight true after every change.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WeightedLru } from '../src/delivery/weighted-lru.js';

void describe('WeightedLru', () => {
  void it('keeps at most its count, dropping the least recently used', () => {
    const lru = new WeightedLru<string>(2);
    lru.set('a', 'A');
    lru.set('b', 'B');
    assert.equal(lru.get('a'), 'A'); // a is now the most recent
    lru.set('c', 'C');
    assert.equal(lru.get('b'), undefined);
    assert.deepEqual([lru.get('a'), lru.get('c'), lru.size], ['A', 'C', 2]);
  });

  void it('keeps at most its weight, however few the values', () => {
    const lru = new WeightedLru<string>(100, 10);
    lru.set('a', 'A', 4);
    lru.set('b', 'B', 4);
    lru.set('c', 'C', 4);
    assert.equal(lru.get('a'), undefined, 'the oldest went to bring 12 under 10');
    assert.deepEqual([lru.size, lru.weight], [2, 8]);
  });

  void it('keeps the newest value even when it alone weighs more than the bound', () => {
    const lru = new WeightedLru<string>(100, 10);
    lru.set('a', 'A', 3);
    lru.set('huge', 'H', 50);
    assert.deepEqual([lru.get('a'), lru.get('huge'), lru.size, lru.weight], [undefined, 'H', 1, 50]);
  });

  void it('reweighs a held value, evicting others when it grows, and ignores one it does not hold', () => {
    const lru = new WeightedLru<string>(100, 10);
    lru.set('a', 'A', 2);
    lru.set('b', 'B', 2);
    lru.reweigh('b', 9);
    assert.deepEqual([lru.get('a'), lru.get('b'), lru.weight], [undefined, 'B', 9]);
    lru.reweigh('gone', 5);
    assert.deepEqual([lru.size, lru.weight], [1, 9]);
  });

  void it('counts a replaced or deleted value out of its weight', () => {
    const lru = new WeightedLru<string>(100, 100);
    lru.set('a', 'A', 30);
    lru.set('a', 'A2', 5);
    assert.deepEqual([lru.get('a'), lru.weight], ['A2', 5]);
    lru.delete('a');
    lru.delete('a');
    assert.deepEqual([lru.size, lru.weight], [0, 0]);
  });
});
