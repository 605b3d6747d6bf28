// The floor for a durable commit over HTTP in one Node process on this machine: a bare node:http
// server around Herald's own SQLite store (the same group commit, synchronous=FULL, audit record
// and release per commit), with nothing else of Herald's request path (no framework, no
// authentication, validation, schemas, flag rules, metrics or logs). bench/commits.mjs runs it as
// its `floor` target, to show how much of a commit's time is the store and Node's HTTP, and how
// much is Herald's request path.
//   node bench/commit-floor.mjs DATA_FOLDER PORT
import http from 'node:http';
import { join } from 'node:path';

const { SqliteStore } = await import('../packages/store/dist/src/sqlite/sqlite-store.js');
const [folder, port] = process.argv.slice(2);
const store = SqliteStore.open({ path: join(folder, 'herald.db') });
const audit = (action, target) => ({ actor: 'bench', action, target });
const noLimit = { maxEntriesPerNamespace: 1_000_000 };

function answer(response, status, body) {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', async () => {
    try {
      const parts = request.url.split('/');
      if (request.method === 'POST' && request.url === '/v1/namespaces') {
        const { name } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        await store.createNamespace({ name, description: '', schema: null }, audit('namespace.create', name));
        return answer(response, 201, { name });
      }
      if (request.method !== 'PUT' || parts.length !== 6) return answer(response, 404, { code: 'route_not_found' });
      const [, , , namespace, , key] = parts;
      const { value } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const change = {
        op: 'set',
        key,
        label: '',
        text: JSON.stringify(value),
        contentType: 'application/json',
        tags: {},
        secret: false,
      };
      const result = await store.commit(
        { namespace, changes: [change], author: 'bench', message: '', release: true },
        audit('entries.commit', namespace),
        noLimit,
      );
      return answer(response, 200, { key, revision: result.revision, releaseSeq: result.release?.seq });
    } catch (error) {
      return answer(response, 500, { code: 'internal', detail: String(error) });
    }
  });
});
server.listen(Number(port), '127.0.0.1', () => console.log(`commit floor listening on http://127.0.0.1:${port}`));
process.once('SIGTERM', () => server.close(() => void store.close().then(() => process.exit(0))));
