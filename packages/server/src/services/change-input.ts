import { checkKey, checkLabel, checkTags, textContentType, type Change, type Limits } from '@herald/core';
import type { EntryCodec } from '../entry-codec.js';

/** One change as the admin API (and the Azure API through it) asks for it. */
export type ChangeInput =
  | {
      op: 'set';
      key: string;
      label?: string;
      value: unknown;
      /**
       * The value as text, stored verbatim (the Azure App Configuration API sends strings): checked
       * against the content type (JSON types must parse), and `value` is then ignored.
       */
      text?: string;
      contentType?: string;
      tags?: Record<string, string>;
      secret?: boolean;
      ifRevision?: number;
      ifEtag?: string;
      ifAbsent?: boolean;
    }
  | {
      op: 'delete' | 'lock' | 'unlock';
      key: string;
      label?: string;
      ifRevision?: number;
      ifEtag?: string;
      ifAbsent?: boolean;
    };

export interface CommitInput {
  message?: string;
  changes: ChangeInput[];
  ifNamespaceRevision?: number;
}

/** The change to store: key, label and tags checked against the limits, the value encoded, a secret sealed. */
export function toChange(namespace: string, input: ChangeInput, codec: EntryCodec, limits: Limits): Change {
  const label = input.label ?? '';
  checkKey(input.key, limits);
  checkLabel(label, limits);
  const preconditions = {
    ...(input.ifRevision === undefined ? {} : { ifRevision: input.ifRevision }),
    ...(input.ifEtag === undefined ? {} : { ifEtag: input.ifEtag }),
    ...(input.ifAbsent ? { ifAbsent: true } : {}),
  };
  if (input.op !== 'set') return { op: input.op, key: input.key, label, ...preconditions };
  const tags = input.tags ?? {};
  checkTags(tags, limits);
  const { text, contentType } =
    input.text === undefined
      ? codec.encodeValue(input.key, input.value, input.contentType)
      : verbatimText(codec, input.key, input.text, input.contentType);
  const secret = input.secret ?? false;
  const stored = codec.seal({ namespace, key: input.key, label }, text, secret);
  return { op: 'set', key: input.key, label, text: stored, contentType, tags, secret, ...preconditions };
}

function verbatimText(
  codec: EntryCodec,
  key: string,
  text: string,
  contentType = textContentType,
): { text: string; contentType: string } {
  codec.checkText(key, text, contentType);
  return { text, contentType };
}
