import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  AuditChainVerifier,
  auditGenesisHash,
  auditHash,
  canonicalJson,
  chainAuditRecord,
  type AuditRecord,
  type AuditVerification,
} from '../src/index.js';

function buildChain(length: number): AuditRecord[] {
  const records: AuditRecord[] = [];
  for (let i = 0; i < length; i += 1) {
    const previous = records.at(-1);
    records.push(
      chainAuditRecord(
        previous,
        {
          actor: `user${i % 3}`,
          action: i % 2 ? 'entry.set' : 'namespace.create',
          target: `namespace:ns${i}`,
          details: { i, note: 'x' },
        },
        1_000 + i,
      ),
    );
  }
  return records;
}

function verify(records: readonly AuditRecord[], pageSize = records.length || 1): AuditVerification {
  const verifier = new AuditChainVerifier();
  for (let start = 0; start < records.length; start += pageSize) {
    for (const record of records.slice(start, start + pageSize)) verifier.add(record);
  }
  return verifier.result();
}

void test('the first record starts at seq 1 and links to the genesis hash', () => {
  const first = chainAuditRecord(undefined, { actor: 'admin', action: 'token.create', target: 'token:abc' }, 42);
  assert.equal(first.seq, 1);
  assert.equal(first.at, 42);
  assert.equal(first.prevHash, auditGenesisHash);
  assert.equal(auditGenesisHash, '0'.repeat(64));
  assert.deepEqual(first.details, {});
  assert.match(first.hash, /^[0-9a-f]{64}$/u);
  assert.equal(first.hash, auditHash(first));
});

void test('each record links to the previous one and takes the next seq', () => {
  const records = buildChain(4);
  records.forEach((record, i) => {
    assert.equal(record.seq, i + 1);
    assert.equal(record.prevHash, i === 0 ? auditGenesisHash : records[i - 1]?.hash);
  });
});

void test('the hash is SHA-256 over the RFC 8785 canonical JSON of the fields, independent of property order', () => {
  const record = chainAuditRecord(undefined, { actor: 'a', action: 'b', target: 'c', details: { z: 1, a: [1, 2] } }, 7);
  const expected = createHash('sha256')
    .update(
      canonicalJson({
        seq: 1,
        at: 7,
        actor: 'a',
        action: 'b',
        target: 'c',
        details: { a: [1, 2], z: 1 },
        prevHash: auditGenesisHash,
      }),
    )
    .digest('hex');
  assert.equal(record.hash, expected);
  const { hash: _hash, ...rest } = record;
  const reordered = {
    prevHash: rest.prevHash,
    details: { a: [1, 2], z: 1 },
    target: 'c',
    action: 'b',
    actor: 'a',
    at: 7,
    seq: 1,
  };
  assert.equal(auditHash(reordered), record.hash);
});

void test('the verifier accepts a correct chain and reports its count and head', () => {
  const records = buildChain(10);
  assert.deepEqual(verify(records), { ok: true, count: 10, head: records[9]?.hash });
});

void test('the verifier accepts a correct chain fed in several pages', () => {
  const records = buildChain(25);
  for (const pageSize of [1, 3, 7, 10, 24, 25]) {
    assert.deepEqual(
      verify(records, pageSize),
      { ok: true, count: 25, head: records[24]?.hash },
      `page size ${pageSize}`,
    );
  }
});

void test('an empty chain is ok with the genesis head', () => {
  assert.deepEqual(new AuditChainVerifier().result(), { ok: true, count: 0, head: auditGenesisHash });
});

void test('an altered field is detected at its record, for every hashed field', () => {
  const alterations: Array<(r: AuditRecord) => AuditRecord> = [
    (r) => ({ ...r, actor: 'mallory' }),
    (r) => ({ ...r, action: 'entry.delete' }),
    (r) => ({ ...r, target: 'namespace:other' }),
    (r) => ({ ...r, at: r.at + 1 }),
    (r) => ({ ...r, details: { ...r.details, i: 999 } }),
    (r) => ({ ...r, details: {} }),
  ];
  for (const alter of alterations) {
    const records = buildChain(6);
    records[3] = alter(records[3] as AuditRecord);
    const result = verify(records, 2);
    assert.equal(result.ok, false);
    assert.equal(result.count, 6);
    assert.equal(result.firstBad?.seq, 4);
    assert.match(result.firstBad?.reason ?? '', /altered/u);
  }
});

void test('an altered record with a recomputed hash breaks the link of the next record', () => {
  const records = buildChain(5);
  const altered = { ...(records[2] as AuditRecord), actor: 'mallory' };
  records[2] = { ...altered, hash: auditHash(altered) };
  const result = verify(records);
  assert.equal(result.ok, false);
  assert.equal(result.firstBad?.seq, 4);
  assert.match(result.firstBad?.reason ?? '', /link/u);
});

void test('a removed middle record is detected', () => {
  const records = buildChain(6);
  records.splice(2, 1);
  const result = verify(records);
  assert.equal(result.ok, false);
  assert.equal(result.count, 5);
  assert.equal(result.firstBad?.seq, 4);
  assert.match(result.firstBad?.reason ?? '', /expected record 3, found 4/u);
});

void test('a removed middle record is detected even when the later seqs are renumbered', () => {
  const records = buildChain(6);
  records.splice(2, 1);
  const renumbered = records.map((r, i) => {
    const unhashed = { ...r, seq: i + 1 };
    return { ...unhashed, hash: auditHash(unhashed) };
  });
  const result = verify(renumbered);
  assert.equal(result.ok, false);
  assert.equal(result.firstBad?.seq, 3);
});

void test('two swapped records are detected', () => {
  const records = buildChain(6);
  const [third, fourth] = [records[2] as AuditRecord, records[3] as AuditRecord];
  records[2] = fourth;
  records[3] = third;
  const result = verify(records);
  assert.equal(result.ok, false);
  assert.equal(result.firstBad?.seq, 4);
  assert.match(result.firstBad?.reason ?? '', /reordered/u);
});

void test('two records with swapped contents but kept seqs are detected', () => {
  const records = buildChain(6);
  const a = records[2] as AuditRecord;
  const b = records[3] as AuditRecord;
  records[2] = { ...b, seq: 3 };
  records[3] = { ...a, seq: 4 };
  const result = verify(records);
  assert.equal(result.ok, false);
  assert.equal(result.firstBad?.seq, 3);
});

void test('a changed prevHash is detected', () => {
  const records = buildChain(4);
  records[2] = { ...(records[2] as AuditRecord), prevHash: 'f'.repeat(64) };
  const result = verify(records);
  assert.equal(result.ok, false);
  assert.equal(result.firstBad?.seq, 3);
  assert.match(result.firstBad?.reason ?? '', /link/u);
});

void test('a first record that does not start from genesis is detected', () => {
  const records = buildChain(3);
  const result = verify(records.slice(1));
  assert.equal(result.ok, false);
  assert.equal(result.firstBad?.seq, 2);
});

void test('a duplicated record is detected', () => {
  const records = buildChain(4);
  records.splice(2, 0, records[1] as AuditRecord);
  const result = verify(records);
  assert.equal(result.ok, false);
  assert.equal(result.firstBad?.seq, 2);
  assert.equal(result.count, 5);
});

void test('only the first bad record is reported, and every record is still counted', () => {
  const records = buildChain(8);
  records[2] = { ...(records[2] as AuditRecord), actor: 'x' };
  records[6] = { ...(records[6] as AuditRecord), actor: 'y' };
  const result = verify(records, 3);
  assert.equal(result.firstBad?.seq, 3);
  assert.equal(result.count, 8);
});
