import type { FastifyReply, FastifyRequest } from 'fastify';
import { HeraldError, type Limits } from '@herald/core';
import type { HeraldApp } from '../http/context.js';
import type { AccessKeyCaller } from './access-keys.js';
import type { KeyValueReads } from './key-value-reads.js';
import type { KeyValueWrites } from './key-value-writes.js';
import { keyValueFields, mediaTypes, parseSelect, project, type AzurePage } from './model.js';
import {
  azureDoc,
  bodyLabel,
  checkIfMatch,
  conditionsOf,
  header,
  ifNoneMatches,
  jsonBody,
  keyValueHeaders,
  labelParam,
  listParams,
  nameParams,
  sendPage,
  sendWritten,
  type Callers,
} from './replies.js';
import { parseRequestTarget, pathRest, type RawQuery } from './request-target.js';

/** The Azure routes of key-values: `/kv`, `/revisions`, `/keys`, `/labels` and `/locks`. */
export function registerKeyValueRoutes(
  scope: HeraldApp,
  deps: { reads: KeyValueReads; writes: KeyValueWrites; callers: Callers; limits: Limits; syncId: string },
): void {
  const { reads, writes, callers, limits, syncId } = deps;

  scope.get(
    '/kv/*',
    azureDoc('Azure: get a key-value (label, $select; If-None-Match gives 304; Accept-Datetime reads the past)'),
    async (request, reply) => {
      const { path, query } = parseRequestTarget(request.url);
      const caller = callers.of(request);
      const key = pathRest(path, '/kv/', 'key');
      const select = parseSelect(query.get('$select'), keyValueFields);
      const asOf = await reads.asOf(caller, header(request, 'accept-datetime'));
      const kv = await reads.getKeyValue(caller, key, labelParam(query), asOf);
      if (!kv) throw new HeraldError('entry_not_found', 'the key-value does not exist', { extensions: { name: key } });
      const conditions = conditionsOf(request);
      checkIfMatch(conditions, kv.etag, 'key-value');
      keyValueHeaders(reply, kv);
      if (asOf !== undefined) void reply.header('memento-datetime', new Date(kv.last_modified).toUTCString());
      if (ifNoneMatches(conditions, kv.etag)) return reply.code(304).send();
      return reply.type(mediaTypes.kv).send(JSON.stringify(project(kv, select)));
    },
  );

  scope.put(
    '/kv/*',
    azureDoc('Azure: set a key-value (body {value, content_type, tags}; If-Match, If-None-Match: * to add)'),
    async (request, reply) => {
      const { path, query } = parseRequestTarget(request.url);
      const body = jsonBody(request, limits);
      const label = query.has('label') ? labelParam(query) : bodyLabel(body);
      const written = await writes.putKeyValue(
        callers.of(request),
        pathRest(path, '/kv/', 'key'),
        label,
        body,
        conditionsOf(request),
      );
      return sendWritten(reply, written, syncId);
    },
  );

  scope.delete(
    '/kv/*',
    azureDoc('Azure: delete a key-value (200 with it, 204 when there was none; If-Match)'),
    async (request, reply) => {
      const { path, query } = parseRequestTarget(request.url);
      const deleted = await writes.deleteKeyValue(
        callers.of(request),
        pathRest(path, '/kv/', 'key'),
        labelParam(query),
        conditionsOf(request),
      );
      if (!deleted) return reply.code(204).send();
      return sendWritten(reply, deleted, syncId);
    },
  );

  /** A listing: `$select` among `fields` (none when undefined), Accept-Datetime, then the page. */
  const listing =
    <T extends object>(
      read: (caller: AccessKeyCaller, query: RawQuery, asOf: number | undefined) => Promise<AzurePage<T>>,
      fields: readonly string[] | undefined,
      mediaType: string,
    ) =>
    async (request: FastifyRequest, reply: FastifyReply) => {
      const target = parseRequestTarget(request.url);
      const caller = callers.of(request);
      const select = fields && parseSelect(target.query.get('$select'), fields);
      const asOf = await reads.asOf(caller, header(request, 'accept-datetime'));
      const page = await read(caller, target.query, asOf);
      return sendPage(request, reply, target, page, (item) => project(item, select), mediaType, select);
    };

  scope.get(
    '/kv',
    azureDoc(
      'Azure: list key-values (key, label, tags filters; $select; after; snapshot; Accept-Datetime); pages of 100',
    ),
    listing(
      (caller, query, asOf) => {
        const snapshot = query.get('snapshot');
        return reads.listKeyValues(caller, {
          ...listParams(query),
          ...(asOf === undefined ? {} : { asOf }),
          ...(snapshot === undefined ? {} : { snapshot }),
        });
      },
      keyValueFields,
      mediaTypes.kvset,
    ),
  );

  scope.get(
    '/revisions',
    azureDoc('Azure: list revisions of key-values, newest first (key, label, tags filters; $select; after)'),
    listing(
      (caller, query, asOf) =>
        reads.listRevisions(caller, { ...listParams(query), ...(asOf === undefined ? {} : { asOf }) }),
      keyValueFields,
      mediaTypes.kvset,
    ),
  );

  scope.get(
    '/keys',
    azureDoc('Azure: list keys (name filter; after)'),
    listing((caller, query, asOf) => reads.listKeys(caller, nameParams(query, asOf)), undefined, mediaTypes.keyset),
  );

  scope.get(
    '/labels',
    azureDoc('Azure: list labels (name filter; after; the empty label is null)'),
    listing((caller, query, asOf) => reads.listLabels(caller, nameParams(query, asOf)), ['name'], mediaTypes.labelset),
  );

  const lock = (locked: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
    const { path, query } = parseRequestTarget(request.url);
    const written = await writes.setLock(
      callers.of(request),
      pathRest(path, '/locks/', 'key'),
      labelParam(query),
      locked,
      conditionsOf(request),
    );
    return sendWritten(reply, written, syncId);
  };
  scope.put('/locks/*', azureDoc('Azure: lock a key-value (read-only: writes get 409 until unlocked)'), lock(true));
  scope.delete('/locks/*', azureDoc('Azure: unlock a key-value'), lock(false));
}
