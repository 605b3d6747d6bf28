// The web UI's wire types (packages/ui/src/api-types.gen.ts) are what `npm run gen:ui-types`
// makes from the server's /openapi.json now: a route or schema changed without regenerating them
// fails here, with the way to fix it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fetchOpenApiDocument, readUiApiTypes, renderUiApiTypes, uiApiTypesPath } from '@herald/testkit';

void test('the UI types generated from /openapi.json are up to date', async () => {
  const expected = await renderUiApiTypes(await fetchOpenApiDocument());
  const actual = await readUiApiTypes();
  assert.ok(actual !== undefined, `${uiApiTypesPath} is missing: run npm run gen:ui-types`);
  assert.ok(
    actual === expected,
    `${uiApiTypesPath} is stale (the OpenAPI document changed): run npm run gen:ui-types and commit the result`,
  );
});
