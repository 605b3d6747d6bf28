import {
  addressId,
  resolveView,
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
 * schema) each view instances receive as one object: the default label alone, and the default
 * with each label over it. Commits are checked before they are stored; a new
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
      // The whole namespace: a change to the default label changes every label's resolved view.
      const values = new Map<string, { key: string; label: string; value: unknown }>();
      for (const version of await this.#store.readEntries({ namespace: ns.name }))
        values.set(addressId(version), {
          key: version.key,
          label: version.label,
          value: this.#codec.decodedValue(version),
        });
      for (const change of changes) {
        if (change.op === 'set')
          values.set(addressId(change), {
            key: change.key,
            label: change.label,
            value: newValues.get(addressId(change)),
          });
        else if (change.op === 'delete') values.delete(addressId(change));
      }
      const touched = new Set(changes.filter((c) => c.op === 'set' || c.op === 'delete').map((c) => c.label));
      // Every view a change can alter: all of them when the default label changed, else those of the labels changed.
      const labels = touched.has('') ? labelsInUse(values.values()) : [...touched];
      violations.push(...viewViolations(validator, labels, [...values.values()]));
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
    const values: Array<{ key: string; label: string; value: unknown }> = [];
    for (const version of entries) {
      const value = this.#codec.decodedValue(version);
      violations.push(...validator.valueViolations(version.key, value));
      values.push({ key: version.key, label: version.label, value });
    }
    if (validator.hasDocumentSchema) violations.push(...viewViolations(validator, labelsInUse(values), values));
    return violations;
  }
}

/** The default label and every label an entry has: the views instances can receive. */
function labelsInUse(entries: Iterable<{ label: string }>): string[] {
  return [...new Set(['', ...[...entries].map((e) => e.label)])];
}

/**
 * The document schema against the view of each label as instances receive it: the default label
 * alone for '', and the default with the label over it otherwise (labels are overrides).
 */
function viewViolations(
  validator: SchemaValidator,
  labels: readonly string[],
  entries: ReadonlyArray<{ key: string; label: string; value: unknown }>,
): Violation[] {
  return labels.flatMap((label) =>
    validator.documentViolations(label, resolveView(label === '' ? [''] : ['', label], entries)),
  );
}
