/**
 * Every bound Herald enforces on input, in one place. Defaults are generous for configuration
 * and small enough that one request can never exhaust the server. Operators override them through
 * the server config; the store and API read them from here.
 */
export interface Limits {
  /** Bytes of an HTTP request body. Must exceed maxValueBytes, or a maximal value cannot be sent. */
  maxBodyBytes: number;
  /** Bytes of one entry value (UTF-8 of its text or JSON encoding). */
  maxValueBytes: number;
  /** Characters of a key. */
  maxKeyLength: number;
  /** Characters of a label. */
  maxLabelLength: number;
  /** Labels in one label stack or label filter. */
  maxLabels: number;
  /** Nesting depth of a JSON value (a scalar has depth 0). */
  maxJsonDepth: number;
  /** Changes in one commit. */
  maxChangesPerCommit: number;
  /** Live entries (all labels) in one namespace. */
  maxEntriesPerNamespace: number;
  /** Tags on one entry. */
  maxTags: number;
  /** Characters of a tag name or tag value. */
  maxTagLength: number;
  /** Bytes of a namespace's JSON Schema document. */
  maxSchemaBytes: number;
  /** Items on one page of a listing. */
  maxPageSize: number;
}

export const defaultLimits: Readonly<Limits> = Object.freeze({
  maxBodyBytes: 4 * 1024 * 1024,
  maxValueBytes: 1024 * 1024,
  maxKeyLength: 1024,
  maxLabelLength: 256,
  maxLabels: 16,
  maxJsonDepth: 32,
  maxChangesPerCommit: 1000,
  maxEntriesPerNamespace: 20_000,
  maxTags: 32,
  maxTagLength: 256,
  maxSchemaBytes: 256 * 1024,
  maxPageSize: 1000,
});
