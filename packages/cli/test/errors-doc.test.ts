// docs/errors.md is the reference of every error code; this test keeps each of its sections in
// step with the one catalogue of those codes: the server's (packages/core/src/errors.ts), the SDK's
// (packages/sdk/src/errors.ts, and its rejection codes in verify.ts) and the agent's
// (packages/agent/src/errors.ts). fastify's test/internals/errors.test.js does the same for its
// docs/Reference/Errors.md.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { agentErrorCodes, agentHttpErrors } from '@herald/agent';
import { errorCatalogue, errorCodes } from '@herald/core';
import { clientErrorCodes, rejectionCodes } from '@herald/sdk';
import { cliErrorCodes } from '../src/cli-codes.js';

// From packages/cli/dist/test/ up to the repository root.
const docUrl = new URL('../../../../docs/errors.md', import.meta.url);

interface Row {
  code: string;
  /** For tables with a status column. */
  status: number | undefined;
  meaning: string;
  action: string;
}

/** A section of the page: the rows of the tables under one heading (up to the next heading). */
interface Section {
  heading: string;
  /** The catalogue it documents: each code, with its HTTP status when the codes have one. */
  catalogue: ReadonlyMap<string, number | undefined>;
}

const sections: readonly Section[] = [
  {
    heading: '## Codes',
    catalogue: new Map(errorCodes.map((code) => [code, errorCatalogue[code].status])),
  },
  { heading: '## SDK client codes', catalogue: new Map(clientErrorCodes.map((code) => [code, undefined])) },
  { heading: '### Why a client refused a view', catalogue: new Map(rejectionCodes.map((code) => [code, undefined])) },
  { heading: '## Agent codes', catalogue: new Map(agentErrorCodes.map((code) => [code, undefined])) },
  { heading: "### The agent's local HTTP endpoint", catalogue: new Map(Object.entries(agentHttpErrors)) },
  { heading: '## CLI codes', catalogue: new Map(cliErrorCodes.map((code) => [code, undefined])) },
];

let doc: string;
const rowsOf = new Map<string, Row[]>();
/** Rows of code-and-status tables under no section above: codes nobody checks. */
const strays: Row[] = [];

function parseRow(line: string): Row | undefined {
  const withStatus = /^\|\s*`([^`]+)`\s*\|\s*(\d{3})\s*\|(.*)\|(.*)\|\s*$/u.exec(line);
  if (withStatus)
    return {
      code: withStatus[1] ?? '',
      status: Number(withStatus[2]),
      meaning: (withStatus[3] ?? '').trim(),
      action: (withStatus[4] ?? '').trim(),
    };
  const without = /^\|\s*`([^`]+)`\s*\|(.*)\|(.*)\|\s*$/u.exec(line);
  if (without)
    return {
      code: without[1] ?? '',
      status: undefined,
      meaning: (without[2] ?? '').trim(),
      action: (without[3] ?? '').trim(),
    };
  return undefined;
}

before(async () => {
  doc = await readFile(docUrl, 'utf8');
  let current: Row[] | undefined;
  for (const line of doc.split('\n')) {
    if (line.startsWith('#')) {
      const heading = line.trim();
      current = sections.some((s) => s.heading === heading) ? [] : undefined;
      if (current) {
        assert.ok(!rowsOf.has(heading), `the heading "${heading}" appears twice`);
        rowsOf.set(heading, current);
      }
      continue;
    }
    const row = parseRow(line);
    if (row && current) current.push(row);
    else if (row?.status !== undefined) strays.push(row);
  }
});

void describe('docs/errors.md', () => {
  for (const section of sections) {
    void describe(section.heading.replace(/^#+ /u, ''), () => {
      void it('is on the page', () => {
        assert.ok(rowsOf.has(section.heading), `docs/errors.md has no section "${section.heading}"`);
      });

      void it('documents every code of its catalogue', () => {
        const documented = new Set((rowsOf.get(section.heading) ?? []).map((row) => row.code));
        const missing = [...section.catalogue.keys()].filter((code) => !documented.has(code));
        assert.deepEqual(missing, [], `codes missing under "${section.heading}": ${missing.join(', ')}`);
      });

      void it('documents no code that does not exist, and each code once', () => {
        const rows = rowsOf.get(section.heading) ?? [];
        const unknown = rows.map((row) => row.code).filter((code) => !section.catalogue.has(code));
        assert.deepEqual(
          unknown,
          [],
          `"${section.heading}" lists codes that are not in its catalogue: ${unknown.join(', ')}`,
        );
        const seen = new Set<string>();
        for (const row of rows) {
          assert.ok(!seen.has(row.code), `${row.code} is listed twice`);
          seen.add(row.code);
        }
        assert.equal(rows.length, section.catalogue.size);
      });

      void it('gives each code the status of its catalogue, a meaning and what to do', () => {
        for (const row of rowsOf.get(section.heading) ?? []) {
          if (!section.catalogue.has(row.code)) continue;
          assert.equal(row.status, section.catalogue.get(row.code), `status of ${row.code}`);
          assert.ok(row.meaning.length > 10, `${row.code} has no meaning`);
          assert.ok(row.action.length > 5, `${row.code} does not say what to do`);
        }
      });
    });
  }

  void it('lists codes with a status only in the sections checked here', () => {
    assert.deepEqual(
      strays.map((row) => row.code),
      [],
    );
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
