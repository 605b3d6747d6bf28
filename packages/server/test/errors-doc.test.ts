// docs/errors.md is the reference of every error code; this test keeps it in step with the one
// catalogue in packages/core/src/errors.ts (fastify's test/internals/errors.test.js does the same
// for its docs/Reference/Errors.md).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { errorCatalogue, errorCodes, isErrorCode } from '@herald/core';

// From packages/server/dist/test/ up to the repository root.
const docUrl = new URL('../../../../docs/errors.md', import.meta.url);

interface Row {
  code: string;
  status: number;
  meaning: string;
  action: string;
}

let doc: string;
let rows: Row[];

before(async () => {
  doc = await readFile(docUrl, 'utf8');
  rows = [];
  for (const line of doc.split('\n')) {
    const cells = /^\|\s*`([^`]+)`\s*\|\s*(\d{3})\s*\|(.*)\|(.*)\|\s*$/u.exec(line);
    if (cells)
      rows.push({
        code: cells[1] ?? '',
        status: Number(cells[2]),
        meaning: (cells[3] ?? '').trim(),
        action: (cells[4] ?? '').trim(),
      });
  }
});

void describe('docs/errors.md', () => {
  void it('documents every code in the catalogue', () => {
    const documented = new Set(rows.map((row) => row.code));
    const missing = errorCodes.filter((code) => !documented.has(code));
    assert.deepEqual(missing, [], `codes missing from docs/errors.md: ${missing.join(', ')}`);
  });

  void it('documents no code that does not exist, and each code once', () => {
    const unknown = rows.map((row) => row.code).filter((code) => !isErrorCode(code));
    assert.deepEqual(unknown, [], `docs/errors.md lists codes that are not in the catalogue: ${unknown.join(', ')}`);
    const seen = new Set<string>();
    for (const row of rows) {
      assert.ok(!seen.has(row.code), `${row.code} is listed twice`);
      seen.add(row.code);
    }
    assert.equal(rows.length, errorCodes.length);
  });

  void it('gives each code the status of the catalogue, a meaning and what the client should do', () => {
    for (const row of rows) {
      if (!isErrorCode(row.code)) continue;
      assert.equal(row.status, errorCatalogue[row.code].status, `status of ${row.code}`);
      assert.ok(row.meaning.length > 10, `${row.code} has no meaning`);
      assert.ok(row.action.length > 5, `${row.code} does not say what the client should do`);
    }
  });

  void it('describes the problem+json shape: every member the server sends', () => {
    assert.match(doc, /application\/problem\+json/u);
    for (const member of [
      'type',
      'title',
      'status',
      'code',
      'detail',
      'instance',
      'violations',
      'conflicts',
      'compactedRevision',
    ]) {
      assert.match(doc, new RegExp(`^\\| \`${member}\` \\|`, 'mu'), `the member ${member} is not described`);
    }
  });
});
