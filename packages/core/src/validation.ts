import { HeraldError } from './errors.js';
import type { Limits } from './limits.js';

// Control characters (C0, DEL, C1) are rejected everywhere a name is accepted: they break logs,
// terminals and HTTP headers, and no one needs them in a key.
// eslint-disable-next-line no-control-regex
const controlCharacters = /[\u0000-\u001f\u007f-\u009f]/u;
const namespaceNamePattern = /^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$/u;

/** Namespaces are identifiers used in URLs, globs and file names, so they are kept plain. */
export function checkNamespaceName(name: string): void {
  if (!namespaceNamePattern.test(name)) {
    throw new HeraldError(
      'invalid_namespace_name',
      `namespace "${printable(name)}" must be 1-64 characters of a-z, 0-9, ".", "_" or "-", starting and ending with a letter or digit`,
    );
  }
}

/**
 * Keys accept what Azure App Configuration accepts (any Unicode except "%", and not "." or ".."
 * as a whole key), because the same data is served over that API; control characters are refused.
 */
export function checkKey(key: string, limits: Pick<Limits, 'maxKeyLength'>): void {
  if (key.length === 0) throw new HeraldError('invalid_key', 'key must not be empty');
  if (key.length > limits.maxKeyLength) {
    throw new HeraldError('invalid_key', `key is ${key.length} characters; the limit is ${limits.maxKeyLength}`);
  }
  if (key === '.' || key === '..') throw new HeraldError('invalid_key', `key must not be "${key}"`);
  if (key.includes('%')) throw new HeraldError('invalid_key', `key "${printable(key)}" must not contain "%"`);
  if (controlCharacters.test(key))
    throw new HeraldError('invalid_key', `key "${printable(key)}" must not contain control characters`);
  if (!key.isWellFormed()) throw new HeraldError('invalid_key', 'key must be well-formed Unicode');
}

/** Labels follow the key rules; the empty string is the "no label" label. */
export function checkLabel(label: string, limits: Pick<Limits, 'maxLabelLength'>): void {
  if (label.length > limits.maxLabelLength) {
    throw new HeraldError(
      'invalid_label',
      `label is ${label.length} characters; the limit is ${limits.maxLabelLength}`,
    );
  }
  if (label === '.' || label === '..') throw new HeraldError('invalid_label', `label must not be "${label}"`);
  if (label.includes('%')) throw new HeraldError('invalid_label', `label "${printable(label)}" must not contain "%"`);
  if (controlCharacters.test(label)) {
    throw new HeraldError('invalid_label', `label "${printable(label)}" must not contain control characters`);
  }
  if (!label.isWellFormed()) throw new HeraldError('invalid_label', 'label must be well-formed Unicode');
}

export function checkLabels(labels: readonly string[], limits: Pick<Limits, 'maxLabels' | 'maxLabelLength'>): void {
  if (labels.length > limits.maxLabels) {
    throw new HeraldError('too_many_labels', `${labels.length} labels given; the limit is ${limits.maxLabels}`);
  }
  for (const label of labels) checkLabel(label, limits);
}

export function checkTags(tags: Record<string, string>, limits: Pick<Limits, 'maxTags' | 'maxTagLength'>): void {
  const names = Object.keys(tags);
  if (names.length > limits.maxTags) {
    throw new HeraldError('invalid_tags', `${names.length} tags given; the limit is ${limits.maxTags}`);
  }
  for (const name of names) {
    const value = tags[name] ?? '';
    if (name.length === 0) throw new HeraldError('invalid_tags', 'tag names must not be empty');
    if (name.length > limits.maxTagLength || value.length > limits.maxTagLength) {
      throw new HeraldError(
        'invalid_tags',
        `tag "${printable(name)}" is longer than ${limits.maxTagLength} characters`,
      );
    }
    if (controlCharacters.test(name) || controlCharacters.test(value)) {
      throw new HeraldError('invalid_tags', `tag "${printable(name)}" must not contain control characters`);
    }
  }
}

/** Depth of a parsed JSON value; scalars are 0. Iterative, so a hostile value cannot blow the stack. */
export function jsonDepth(value: unknown): number {
  let deepest = 0;
  const pending: Array<[unknown, number]> = [[value, 0]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop() as [unknown, number];
    if (current === null || typeof current !== 'object') continue;
    const childDepth = depth + 1;
    if (childDepth > deepest) deepest = childDepth;
    for (const child of Array.isArray(current) ? current : Object.values(current)) pending.push([child, childDepth]);
  }
  return deepest;
}

export function checkJsonDepth(value: unknown, limits: Pick<Limits, 'maxJsonDepth'>): void {
  const depth = jsonDepth(value);
  if (depth > limits.maxJsonDepth) {
    throw new HeraldError('json_too_deep', `JSON nesting depth is ${depth}; the limit is ${limits.maxJsonDepth}`);
  }
}

/** Names in error messages are shown with control characters escaped, so they cannot forge log lines. */
export function printable(text: string): string {
  const shortened = text.length > 80 ? `${text.slice(0, 77)}...` : text;
  return JSON.stringify(shortened).slice(1, -1);
}
