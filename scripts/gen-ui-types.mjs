// `npm run gen:ui-types`: writes packages/ui/src/api-types.gen.ts from the OpenAPI document a
// test server serves (the build runs first, so the server is the one in this tree). The test
// cli/test/ui-api-types.test.ts fails while the file in the tree differs from what this writes.
import { writeFile } from 'node:fs/promises';
import { fetchOpenApiDocument, renderUiApiTypes, uiApiTypesPath } from '../packages/testkit/dist/src/index.js';

const text = await renderUiApiTypes(await fetchOpenApiDocument());
await writeFile(uiApiTypesPath, text);
console.log(`wrote ${uiApiTypesPath}`);
