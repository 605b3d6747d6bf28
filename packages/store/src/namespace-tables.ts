/**
 * The tables whose rows belong to one namespace, with the column that names it, in the order a
 * namespace delete empties them (the namespace row itself last). A table added to the schema with
 * a namespace column belongs here, or a deleted namespace leaves rows behind.
 */
export const namespaceTables: ReadonlyArray<readonly [table: string, column: string]> = [
  ['entry_versions', 'namespace'],
  ['commits', 'namespace'],
  ['releases', 'namespace'],
  ['rollouts', 'namespace'],
  ['instance_views', 'namespace'],
  ['instances', 'namespace'],
  ['snapshot_items', 'namespace'],
  ['snapshots', 'namespace'],
  ['namespaces', 'name'],
];
