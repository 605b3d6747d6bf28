import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeraldApiError } from '@herald/sdk';
import { problemError, problemFromResponse, readProblem } from '@herald/sdk/internal';

const problemJson = { 'content-type': 'application/problem+json' };

void describe('readProblem', () => {
  void it('reads status, code, detail, Retry-After and the document of a problem+json answer', async () => {
    const document = { type: 'urn:herald:error:unavailable', status: 503, code: 'unavailable', detail: 'busy', x: 1 };
    const problem = await readProblem(
      new Response(JSON.stringify(document), { status: 503, headers: { ...problemJson, 'retry-after': '3' } }),
      0,
    );
    assert.deepEqual(problem, { status: 503, code: 'unavailable', detail: 'busy', retryAfterMs: 3000, document });
  });

  void it('takes the text of another body as the detail, and the status when there is none', async () => {
    const page = await readProblem(new Response('bad gateway', { status: 502 }), 0);
    assert.deepEqual(page, {
      status: 502,
      code: undefined,
      detail: 'bad gateway',
      retryAfterMs: undefined,
      document: undefined,
    });
    const long = await readProblem(new Response('x'.repeat(5000), { status: 502 }), 0);
    assert.equal(long.detail.length, 1000);
    const empty = await readProblem(new Response(null, { status: 404 }), 0);
    assert.equal(empty.detail, 'HTTP 404');
    const bare = await readProblem(new Response('{"code":7}', { status: 400 }), 0);
    assert.deepEqual([bare.code, bare.detail], [undefined, 'HTTP 400']);
  });
});

void describe('problemError', () => {
  void it('is an http_error naming what was refused, with status and server code', async () => {
    const error = await problemFromResponse(
      new Response(JSON.stringify({ code: 'forbidden', detail: 'no' }), { status: 403, headers: problemJson }),
      'the watch was refused',
      0,
    );
    assert.equal(error.code, 'http_error');
    assert.equal(error.message, 'the watch was refused: no');
    assert.deepEqual([error.status, error.serverCode, error.retryAfterMs], [403, 'forbidden', undefined]);
  });

  void it('carries Retry-After only for a 503 shed and a 429 cap, the statuses the protocol pairs it with', () => {
    const base = { code: undefined, detail: 'd', retryAfterMs: 2000, document: undefined };
    assert.equal(problemError({ ...base, status: 503 }, 'x').retryAfterMs, 2000);
    assert.equal(problemError({ ...base, status: 429 }, 'x').retryAfterMs, 2000);
    assert.equal(problemError({ ...base, status: 400 }, 'x').retryAfterMs, undefined);
  });
});

void describe('HeraldApiError.fromProblem', () => {
  void it('keeps the server code and the whole document', async () => {
    const document = { code: 'namespace_not_found', detail: 'no such namespace', instance: 'req-1' };
    const error = HeraldApiError.fromProblem(
      await readProblem(new Response(JSON.stringify(document), { status: 404, headers: problemJson }), 0),
    );
    assert.deepEqual(
      [error.status, error.code, error.message, error.problem],
      [404, 'namespace_not_found', 'no such namespace', document],
    );
  });

  void it('gives a body that is not problem+json the code http_error and its text as the message', async () => {
    const error = HeraldApiError.fromProblem(await readProblem(new Response('oops', { status: 500 }), 0));
    assert.deepEqual(
      [error.status, error.code, error.message, error.problem],
      [500, 'http_error', 'oops', { detail: 'oops' }],
    );
  });
});
