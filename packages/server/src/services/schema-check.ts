import {
  addressId,
  schemaViolation,
  SchemaValidator,
  type Change,
  type EntryVersion,
  type NamespaceSchema,
  type Violation,
} from '@herald/core';
import type { NamespaceRecord, Store } from '@herald/store';
import type { EntryCodec } from '../entry-codec.js';

export type SchemaCheckStore = Pick<Store, 'readEntries'>;

/**
 * A namespace's JSON Schema against its entries: the values of each key, and (with a document
 * schema) each label's entries as one object. Commits are checked before they are stored; a new
 * schema is checked against what is stored.
 */
export class SchemaCheck {
  readonly #store: SchemaCheckStore;
  readonly #codec: EntryCodec;

  constructor(deps: { store: SchemaCheckStore; codec: EntryCodec }) {
    this.#store = deps.store;
    this.#codec = deps.codec;
  }

  /**
   * Validates the changes against the namespace schema (`schema_violation` otherwise); returns the
   * namespace revision the check was made at when it read the namespace's entries.
   */
  async ofChanges(
    ns: Pick<NamespaceRecord, 'name' | 'revision'>,
    schema: NamespaceSchema,
    changes: Change[],
  ): Promise<number | undefined> {
    const validator = new SchemaValidator(schema);
    const violations: Violation[] = [];
    const newValues = new Map<string, unknown>();
    for (const change of changes) {
      if (change.op !== 'set') continue;
      const plain = this.#codec.unseal({ ...change, namespace: ns.name }, change.text, change.secret);
      const value = this.#codec.checkText(change.key, plain, change.contentType);
      newValues.set(addressId(change), value);
      violations.push(...validator.valueViolations(change.key, value));
    }
    let checkedAt: number | undefined;
    if (validator.hasDocumentSchema) {
      checkedAt = ns.revision;
      const labels = [...new Set(changes.map((c) => c.label))];
      const current = await this.#store.readEntries({ namespace: ns.name, labels });
      for (const label of labels) {
        // Null prototype: a key named __proto__ must be a plain member, not the prototype.
        const document = Object.create(null) as Record<string, unknown>;
        for (const version of current)
          if (version.label === label) document[version.key] = this.#codec.decodedValue(version);
        for (const change of changes) {
          if (change.label !== label) continue;
          if (change.op === 'set') document[change.key] = newValues.get(addressId(change));
          else if (change.op === 'delete') delete document[change.key];
        }
        violations.push(...validator.documentViolations(label, document));
      }
    }
    if (violations.length > 0) throw schemaViolation(violations);
    return checkedAt;
  }

  /** Validates the namespace's current entries against a schema it is to have (`schema_violation` otherwise). */
  async ofNamespace(namespace: string, schema: NamespaceSchema): Promise<void> {
    const validator = new SchemaValidator(schema);
    const entries = await this.#store.readEntries({ namespace });
    const violations = this.#violationsOfState(validator, entries);
    if (violations.length > 0) throw schemaViolation(violations);
  }

  #violationsOfState(validator: SchemaValidator, entries: EntryVersion[]): Violation[] {
    const violations: Violation[] = [];
    const documents = new Map<string, Record<string, unknown>>();
    for (const version of entries) {
      const value = this.#codec.decodedValue(version);
      violations.push(...validator.valueViolations(version.key, value));
      const document = documents.get(version.label) ?? (Object.create(null) as Record<string, unknown>);
      document[version.key] = value;
      documents.set(version.label, document);
    }
    if (validator.hasDocumentSchema) {
      if (!documents.has('')) documents.set('', Object.create(null) as Record<string, unknown>);
      for (const [label, document] of documents) violations.push(...validator.documentViolations(label, document));
    }
    return violations;
  }
}
