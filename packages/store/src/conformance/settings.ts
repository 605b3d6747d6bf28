/** Settings (SettingsStore). */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { allAudit, audit, type ConformanceTest } from './helpers.js';

export function settingsConformance(test: ConformanceTest): void {
  void describe('settings', () => {
    test('putSetting sets and overwrites, audited; getSetting reads it', async (store) => {
      assert.equal(await store.getSetting('policy'), undefined);
      await store.putSetting('policy', '{"a":1}', audit('settings.put', 'setting:policy'));
      assert.equal(await store.getSetting('policy'), '{"a":1}');
      await store.putSetting('policy', '', audit('settings.put', 'setting:policy'));
      assert.equal(await store.getSetting('policy'), '');
      assert.equal((await allAudit(store)).length, 2);
      assert.equal(await store.claimSetting('policy', 'claimed'), '', 'a put value is what a claim finds');
    });

    test('claimSetting: the first value wins, and every later claim returns it', async (store) => {
      assert.equal(await store.claimSetting('key-fingerprint', 'abc'), 'abc');
      assert.equal(await store.claimSetting('key-fingerprint', 'other'), 'abc');
      assert.equal(await store.claimSetting('empty', ''), '');
      assert.equal(await store.claimSetting('empty', 'x'), '');
      const raced = await Promise.all(Array.from({ length: 10 }, (_, i) => store.claimSetting('raced', `v${i}`)));
      assert.equal(new Set(raced).size, 1, 'concurrent claims all see one winner');
      assert.match(raced[0] as string, /^v\d$/u);
      assert.equal(await store.claimSetting('raced', 'late'), raced[0]);
    });
  });
}
