import { checkKey, checkLabel, type EntryVersion, type Limits } from '@herald/core';
import type { EntryCodec } from '../entry-codec.js';
import { canReadSecrets, requirePermission } from '../principal.js';
import type { AccessKeyCaller } from './access-keys.js';
import { toKeyValue, type AzureKeyValue } from './model.js';

/** What the caller of an access key may do with a key-value of its namespace, and how one looks to it. */

export function checkAddress(
  caller: AccessKeyCaller,
  permission: 'read' | 'write',
  key: string,
  label: string,
  limits: Limits,
): void {
  requirePermission(caller.principal, permission, caller.namespace);
  checkKey(key, limits);
  checkLabel(label, limits);
}

/** The key-value as the caller sees it: a secret's value is null unless the key may read secrets. */
export function keyValueFor(caller: AccessKeyCaller, version: EntryVersion, codec: EntryCodec): AzureKeyValue {
  const readable = !version.secret || canReadSecrets(caller.principal, caller.namespace);
  return toKeyValue(version, readable ? codec.plaintext(version) : null);
}
