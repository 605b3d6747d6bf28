import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorCatalogue, errorCodes, HeraldError, isErrorCode, isHeraldError, type ErrorCode } from '../src/index.js';

void test('every catalogued code has a 4xx or 5xx status and a non-empty title', () => {
  assert.ok(errorCodes.length > 0);
  for (const code of errorCodes) {
    const { status, title } = errorCatalogue[code];
    assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code} has status ${status}`);
    assert.equal(typeof title, 'string');
    assert.ok(title.trim().length > 0, `${code} has an empty title`);
  }
});

void test('codes are snake_case identifiers, and errorCodes lists exactly the catalogue', () => {
  assert.deepEqual([...errorCodes].sort(), Object.keys(errorCatalogue).sort());
  for (const code of errorCodes) assert.match(code, /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/u);
});

void test('the statuses clients rely on are stable', () => {
  const expected: Partial<Record<ErrorCode, number>> = {
    invalid_key: 400,
    invalid_cursor: 400,
    invalid_schema: 400,
    json_too_deep: 400,
    unauthenticated: 401,
    forbidden: 403,
    entry_not_found: 404,
    entry_locked: 409,
    revision_compacted: 410,
    precondition_failed: 412,
    body_too_large: 413,
    unsupported_media_type: 415,
    schema_violation: 422,
    precondition_required: 428,
    internal: 500,
    unavailable: 503,
  };
  for (const [code, status] of Object.entries(expected))
    assert.equal(errorCatalogue[code as ErrorCode].status, status, code);
});

void test('isErrorCode accepts catalogued codes only, not inherited object members', () => {
  for (const code of errorCodes) assert.equal(isErrorCode(code), true);
  for (const other of ['nope', '', 'toString', 'constructor', '__proto__', 'hasOwnProperty', 'INVALID_KEY']) {
    assert.equal(isErrorCode(other), false, other);
  }
});

void test('HeraldError carries code, status from the catalogue and the title as default message', () => {
  const error = new HeraldError('entry_locked');
  assert.ok(error instanceof Error);
  assert.ok(error instanceof HeraldError);
  assert.equal(error.name, 'HeraldError');
  assert.equal(error.code, 'entry_locked');
  assert.equal(error.status, 409);
  assert.equal(error.message, errorCatalogue.entry_locked.title);
  assert.deepEqual(error.extensions, {});
  assert.equal(error.retryAfter, undefined);
  assert.equal(error.cause, undefined);
  assert.equal('cause' in error, false);
  assert.ok(error.stack?.includes('HeraldError'));
});

void test('HeraldError takes a detail message, extensions, retryAfter and cause', () => {
  const cause = new Error('root');
  const conflicts = [{ key: 'a', label: '', expected: 'absent', actualRevision: 3 }];
  const error = new HeraldError('precondition_failed', 'the detail', {
    extensions: { conflicts },
    retryAfter: 7,
    cause,
  });
  assert.equal(error.code, 'precondition_failed');
  assert.equal(error.status, 412);
  assert.equal(error.message, 'the detail');
  assert.deepEqual(error.extensions, { conflicts });
  assert.equal(error.retryAfter, 7);
  assert.equal(error.cause, cause);
});

void test('each HeraldError without extensions gets its own extensions object', () => {
  const a = new HeraldError('internal');
  const b = new HeraldError('internal');
  assert.notEqual(a.extensions, b.extensions);
});

void test('every code can be constructed and reports its own status', () => {
  for (const code of errorCodes) {
    const error = new HeraldError(code);
    assert.equal(error.code, code);
    assert.equal(error.status, errorCatalogue[code].status);
    assert.equal(error.message, errorCatalogue[code].title);
  }
});

void test('isHeraldError tells HeraldErrors from other errors and non-errors', () => {
  assert.equal(isHeraldError(new HeraldError('internal')), true);
  assert.equal(isHeraldError(new Error('x')), false);
  assert.equal(isHeraldError({ code: 'internal', status: 500 }), false);
  assert.equal(isHeraldError(null), false);
  assert.equal(isHeraldError(undefined), false);
});
