// Shared by the Azure App Configuration compatibility tests: access keys made through Herald's
// API, and connection strings for the official clients. The tests themselves talk to the server
// through Microsoft's packages only.
import assert from 'node:assert/strict';
import type { TestServer } from '@herald/testkit';
import { call, createNamespace } from './helpers.js';

export interface AccessKey {
  id: string;
  secret: string;
  connectionString: string;
}

/** Creates an access key for one namespace through `POST /v1/azure/access-keys`. */
export async function createAccessKey(
  ts: Pick<TestServer, 'url' | 'adminToken'>,
  namespace: string,
  role: 'admin' | 'writer' | 'releaser' | 'reader' = 'writer',
  extra: { secrets?: boolean; name?: string } = {},
): Promise<AccessKey> {
  const response = await call(ts, 'POST', '/v1/azure/access-keys', {
    body: {
      scopes: [{ namespaces: namespace, role, ...(extra.secrets ? { secrets: true } : {}) }],
      ...(extra.name ? { name: extra.name } : {}),
    },
  });
  assert.equal(response.status, 201, response.text);
  const { id, secret } = response.json as { id: string; secret: string };
  return { id, secret, connectionString: `Endpoint=${ts.url};Id=${id};Secret=${secret}` };
}

/** A namespace and a writer access key for it: one Azure "store". */
export async function createStore(
  ts: Pick<TestServer, 'url' | 'adminToken'>,
  namespace: string,
  role: 'admin' | 'writer' | 'reader' = 'writer',
): Promise<AccessKey> {
  await createNamespace(ts, namespace);
  return createAccessKey(ts, namespace, role);
}

/** Plain HTTP needs this client option (the SDK refuses http:// otherwise); see docs/azure-compat.md. */
export const insecure = { allowInsecureConnection: true } as const;

/** The RestError status of a rejected promise (the test fails when it resolves). */
export async function statusOf(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
  } catch (error) {
    return (error as { statusCode?: number }).statusCode;
  }
  assert.fail('expected the request to fail');
}

/** Collects every item of an SDK paged iterator. */
export async function all<T>(iterator: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterator) items.push(item);
  return items;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
