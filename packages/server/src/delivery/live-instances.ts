import { setImmediate as nextTurn } from 'node:timers/promises';
import type { InstanceRecord, Store } from '@herald/store';

/** Instance records read per page: a few tens of milliseconds of a synchronous SQLite read. */
const pageSize = 5_000;

/**
 * Every live instance record of a namespace (seen since `seenSince`), read a page at a time with
 * a turn of the event loop between pages. The background readers (the rollout controller's
 * passes, the fleet gauges at each scrape, release traces) read whole fleets: 100,000 records in
 * one synchronous SQLite read hold the node for most of a second, during which no request is
 * answered; in pages, requests are served between them.
 */
export async function liveInstances(
  store: Pick<Store, 'listInstances'>,
  namespace: string,
  seenSince: number,
  /** Given each page as it is read, before the next turn: work on the records in pieces too. */
  onPage?: (page: readonly InstanceRecord[]) => void,
): Promise<InstanceRecord[]> {
  const all: InstanceRecord[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.listInstances({
      namespace,
      seenSince,
      limit: pageSize,
      ...(after === undefined ? {} : { after }),
    });
    for (const record of page) all.push(record);
    onPage?.(page);
    const last = page.at(-1);
    if (page.length < pageSize || last === undefined) return all;
    after = last.instanceId;
    await nextTurn();
  }
}
