import { HeraldError, type Limits } from '@herald/core';
import type { HeraldApp } from '../http/context.js';
import { mediaTypes, parseSelect, project, snapshotFields, toAzureSnapshot } from './model.js';
import {
  azureDoc,
  checkIfMatch,
  conditionsOf,
  ifNoneMatches,
  jsonBody,
  origin,
  sendPage,
  type Callers,
} from './replies.js';
import { invalidArgument, parseRequestTarget, pathRest } from './request-target.js';
import type { Snapshots } from './snapshots.js';

/** The Azure routes of snapshots: `/snapshots` and the `/operations` that report their creation. */
export function registerSnapshotRoutes(
  scope: HeraldApp,
  deps: { snapshots: Snapshots; callers: Callers; limits: Limits },
): void {
  const { snapshots, callers, limits } = deps;

  scope.put(
    '/snapshots/*',
    azureDoc(
      'Azure: create a snapshot (body {filters, composition_type, retention_period, tags}); 201 with Operation-Location',
    ),
    async (request, reply) => {
      const { path, query } = parseRequestTarget(request.url);
      const name = pathRest(path, '/snapshots/', 'name');
      const record = await snapshots.createSnapshot(callers.of(request), name, jsonBody(request, limits));
      const apiVersion = query.get('api-version');
      const operation = `${origin(request)}/operations?snapshot=${encodeURIComponent(name)}${apiVersion === undefined ? '' : `&api-version=${encodeURIComponent(apiVersion)}`}`;
      return reply
        .code(201)
        .header('operation-location', operation)
        .header('etag', `"${record.etag}"`)
        .header('last-modified', new Date(record.createdAt).toUTCString())
        .type(mediaTypes.snapshot)
        .send(JSON.stringify(toAzureSnapshot(record)));
    },
  );

  scope.get(
    '/snapshots/*',
    azureDoc('Azure: get a snapshot ($select; If-None-Match gives 304)'),
    async (request, reply) => {
      const { path, query } = parseRequestTarget(request.url);
      const name = pathRest(path, '/snapshots/', 'name');
      const select = parseSelect(query.get('$select'), snapshotFields);
      const record = await snapshots.getSnapshot(callers.of(request), name);
      void reply
        .header('etag', `"${record.etag}"`)
        .header('last-modified', new Date(record.createdAt).toUTCString())
        .header('link', `</kv?snapshot=${encodeURIComponent(name)}>; rel="items"`);
      const conditions = conditionsOf(request);
      checkIfMatch(conditions, record.etag, 'snapshot');
      if (ifNoneMatches(conditions, record.etag)) return reply.code(304).send();
      return reply.type(mediaTypes.snapshot).send(JSON.stringify(project(toAzureSnapshot(record), select)));
    },
  );

  scope.patch(
    '/snapshots/*',
    azureDoc('Azure: archive ({"status":"archived"}) or recover ({"status":"ready"}) a snapshot (If-Match)'),
    async (request, reply) => {
      const { path } = parseRequestTarget(request.url);
      const name = pathRest(path, '/snapshots/', 'name');
      const conditions = conditionsOf(request);
      const caller = callers.of(request);
      if (conditions.ifNoneMatch !== undefined) {
        const current = await snapshots.getSnapshot(caller, name);
        if (ifNoneMatches(conditions, current.etag)) {
          throw new HeraldError('precondition_failed', 'the snapshot matches If-None-Match', {
            extensions: { conflicts: [] },
          });
        }
      }
      const record = await snapshots.updateSnapshot(caller, name, jsonBody(request, limits), conditions.ifMatch);
      return reply
        .header('etag', `"${record.etag}"`)
        .type(mediaTypes.snapshot)
        .send(JSON.stringify(toAzureSnapshot(record)));
    },
  );

  scope.get(
    '/snapshots',
    azureDoc('Azure: list snapshots (name and status filters; $select; after)'),
    async (request, reply) => {
      const target = parseRequestTarget(request.url);
      const { query } = target;
      const select = parseSelect(query.get('$select'), snapshotFields);
      const status = query.get('status');
      const name = query.get('name');
      const after = query.get('after');
      const page = await snapshots.listSnapshots(callers.of(request), {
        ...(name === undefined ? {} : { name }),
        ...(status === undefined || status === '*' ? {} : { status }),
        ...(after === undefined ? {} : { after }),
      });
      return sendPage(
        request,
        reply,
        target,
        page,
        (record) => project(toAzureSnapshot(record), select),
        mediaTypes.snapshotset,
        select,
      );
    },
  );

  scope.get(
    '/operations',
    azureDoc('Azure: the state of a snapshot creation (snapshots are made at once, so it has succeeded)'),
    async (request, reply) => {
      const { query } = parseRequestTarget(request.url);
      const name = query.get('snapshot');
      if (name === undefined) throw invalidArgument('snapshot', 'the snapshot query parameter is required');
      const record = await snapshots.getSnapshot(callers.of(request), name);
      const failed = record.status === 'failed';
      return reply.type(mediaTypes.json).send(
        JSON.stringify({
          id: name,
          status: failed ? 'Failed' : 'Succeeded',
          error: failed ? { code: 'Failed', message: 'the snapshot could not be made' } : null,
        }),
      );
    },
  );
}
