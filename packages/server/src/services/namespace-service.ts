import {
  checkNamespaceName,
  decodeCursor,
  HeraldError,
  SchemaValidator,
  type Limits,
  type NamespaceSchema,
  type Page,
} from '@herald/core';
import type { NamespaceRecord, Store } from '@herald/store';
import { auditBy, canSee, requirePermission, type Principal } from '../principal.js';
import { pageOf } from './paging.js';
import type { SchemaCheck } from './schema-check.js';

export interface NamespaceView {
  name: string;
  description: string;
  revision: number;
  entryCount: number;
  hasSchema: boolean;
  createdAt: string;
}

export type NamespaceStore = Pick<
  Store,
  'createNamespace' | 'listNamespaces' | 'getNamespace' | 'updateNamespace' | 'deleteNamespace'
>;

/** Namespaces and their JSON Schema: creating, listing, deleting them, setting the schema. */
export class NamespaceService {
  readonly #store: NamespaceStore;
  readonly #limits: Limits;
  readonly #schemas: SchemaCheck;

  constructor(deps: { store: NamespaceStore; limits: Limits; schemas: SchemaCheck }) {
    this.#store = deps.store;
    this.#limits = deps.limits;
    this.#schemas = deps.schemas;
  }

  async createNamespace(
    principal: Principal,
    input: { name: string; description?: string; schema?: NamespaceSchema | null },
  ): Promise<NamespaceView> {
    checkNamespaceName(input.name);
    if (input.description?.includes('\u0000'))
      throw new HeraldError('invalid_request', 'the description must not contain U+0000');
    requirePermission(principal, 'manage', input.name);
    const schema = input.schema ?? null;
    // Compiling it is the check that it is a schema at all (and within its bounds).
    if (schema) {
      this.#checkSchemaSize(schema);
      new SchemaValidator(schema);
    }
    const record = await this.#store.createNamespace(
      { name: input.name, description: input.description ?? '', schema },
      auditBy(principal, 'namespace.create', `namespace:${input.name}`, { hasSchema: schema !== null }),
    );
    return namespaceView(record);
  }

  async listNamespaces(principal: Principal, query: { cursor?: string; limit: number }): Promise<Page<NamespaceView>> {
    const after = query.cursor === undefined ? undefined : String(decodeCursor(query.cursor, ['string'])[0]);
    const records = await this.#store.listNamespaces({ after, limit: query.limit + 1 });
    const page = pageOf(records, query.limit, (last) => [last.name]);
    // Namespaces the token cannot see are left out; a page may then be short, but paging stays correct.
    return { ...page, items: page.items.filter((ns) => canSee(principal, ns.name)).map(namespaceView) };
  }

  async getNamespace(principal: Principal, name: string): Promise<NamespaceView> {
    requirePermission(principal, 'read', name);
    return namespaceView(await requireNamespace(this.#store, name));
  }

  async deleteNamespace(principal: Principal, name: string, force: boolean): Promise<void> {
    requirePermission(principal, 'manage', name);
    await this.#store.deleteNamespace(
      name,
      { force },
      auditBy(principal, 'namespace.delete', `namespace:${name}`, { force }),
    );
  }

  async getSchema(principal: Principal, name: string): Promise<NamespaceSchema | null> {
    requirePermission(principal, 'read', name);
    return (await requireNamespace(this.#store, name)).schema;
  }

  /** Sets (or with null, removes) the schema; refused with the violations when the current entries do not satisfy it. */
  async setSchema(principal: Principal, name: string, schema: NamespaceSchema | null): Promise<NamespaceView> {
    requirePermission(principal, 'manage', name);
    this.#checkSchemaSize(schema);
    if (schema) await this.#schemas.ofNamespace(name, schema);
    const record = await this.#store.updateNamespace(
      name,
      { schema },
      auditBy(principal, schema ? 'namespace.schema.set' : 'namespace.schema.remove', `namespace:${name}`),
    );
    return namespaceView(record);
  }

  #checkSchemaSize(schema: NamespaceSchema | null): void {
    const schemaBytes = Buffer.byteLength(JSON.stringify(schema), 'utf8');
    if (schemaBytes > this.#limits.maxSchemaBytes) {
      throw new HeraldError(
        'invalid_schema',
        `the schema is ${schemaBytes} bytes; the limit is ${this.#limits.maxSchemaBytes}`,
      );
    }
  }
}

/** The namespace, or `namespace_not_found`. */
export async function requireNamespace(store: Pick<Store, 'getNamespace'>, name: string): Promise<NamespaceRecord> {
  const ns = await store.getNamespace(name);
  if (!ns) throw new HeraldError('namespace_not_found', `namespace "${name}" does not exist`);
  return ns;
}

function namespaceView(record: NamespaceRecord): NamespaceView {
  return {
    name: record.name,
    description: record.description,
    revision: record.revision,
    entryCount: record.entryCount,
    hasSchema: record.schema !== null,
    createdAt: new Date(record.createdAt).toISOString(),
  };
}
