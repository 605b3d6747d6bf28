import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addressId,
  describeAddress,
  entryEtag,
  isJsonContentType,
  jsonContentType,
  textContentType,
} from '../src/index.js';

void test('content type constants', () => {
  assert.equal(jsonContentType, 'application/json');
  assert.equal(textContentType, 'text/plain');
});

void test('isJsonContentType: application/json and application/*+json, any case, with parameters', () => {
  for (const type of [
    'application/json',
    'Application/JSON',
    'application/json; charset=utf-8',
    'application/json;charset=utf-8',
    '  application/json  ',
    'application/vnd.microsoft.appconfig.ff+json;charset=utf-8',
    'application/vnd.microsoft.appconfig.keyvaultref+json;charset=utf-8',
    'application/problem+json',
    'APPLICATION/VND.X+JSON',
  ]) {
    assert.equal(isJsonContentType(type), true, type);
  }
});

void test('isJsonContentType: other types are text', () => {
  for (const type of [
    '',
    'text/plain',
    'text/json',
    'application/jsonx',
    'application/json5',
    'application/xml',
    'application/x-json-stream',
    'application/json-seq',
    'json',
    '+json',
    'text/plain; note=application/json',
    'image/svg+json', // +json only counts under application/
  ]) {
    assert.equal(isJsonContentType(type), false, type);
  }
});

void test('entryEtag is deterministic, 27 base64url characters', () => {
  const address = { namespace: 'payments', key: 'db/pool/max', label: 'prod' };
  const etag = entryEtag(address, 42);
  assert.equal(etag, entryEtag({ ...address }, 42));
  assert.match(etag, /^[A-Za-z0-9_-]{27}$/u);
});

void test('entryEtag differs for any change of namespace, key, label or revision', () => {
  const base = { namespace: 'ns', key: 'k', label: 'l' };
  const etags = [
    entryEtag(base, 1),
    entryEtag(base, 2),
    entryEtag(base, 11),
    entryEtag({ ...base, namespace: 'ns2' }, 1),
    entryEtag({ ...base, key: 'k2' }, 1),
    entryEtag({ ...base, label: '' }, 1),
    entryEtag({ ...base, label: 'l2' }, 1),
    // The separator keeps boundaries apart: moving characters between fields changes the ETag.
    entryEtag({ namespace: 'ns', key: 'kl', label: '' }, 1),
    entryEtag({ namespace: 'nsk', key: '', label: 'l' }, 1),
    entryEtag({ namespace: 'ns', key: 'k', label: 'l1' }, 1),
  ];
  assert.equal(new Set(etags).size, etags.length);
});

void test('entryEtag does not depend on extra fields of the address object', () => {
  const a = entryEtag({ namespace: 'n', key: 'k', label: '' }, 5);
  const withExtras = { namespace: 'n', key: 'k', label: '', text: 'whatever', revision: 99 };
  assert.equal(entryEtag(withExtras, 5), a);
});

void test('addressId keeps key and label apart', () => {
  assert.equal(addressId({ key: 'a', label: 'b' }), addressId({ key: 'a', label: 'b' }));
  assert.notEqual(addressId({ key: 'ab', label: '' }), addressId({ key: 'a', label: 'b' }));
  assert.notEqual(addressId({ key: 'a', label: '' }), addressId({ key: 'a', label: 'prod' }));
  assert.notEqual(addressId({ key: 'a/b', label: '' }), addressId({ key: 'a', label: '/b' }));
});

void test('describeAddress names the label only when there is one', () => {
  assert.equal(describeAddress({ key: 'db/host', label: '' }), '"db/host"');
  assert.equal(describeAddress({ key: 'db/host', label: 'prod' }), '"db/host" (label "prod")');
});
