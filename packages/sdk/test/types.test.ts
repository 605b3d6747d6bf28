// Type tests for the SDK's public API: this file compiles only if the types are right (the
// `@ts-expect-error` lines fail the build when the error they expect goes away). It runs too, but
// only constructs a client: construction does no I/O.
import { it } from 'node:test';
import {
  HeraldClient,
  HeraldClientError,
  type ClientErrorCode,
  type ClientStatus,
  type ClientStatusType,
  type HealthStatus,
  type HeraldClientOptions,
  type RejectionCode,
  type ValidateHook,
  type ViewChange,
  type ViewSnapshot,
} from '@herald/sdk';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_proof?: T): void {}

const options: HeraldClientOptions = {
  url: 'http://127.0.0.1:1',
  token: 't',
  instanceId: 'i-1',
  attributes: { region: 'westus' },
  views: [{ namespace: 'payments', labels: ['prod'] }, { namespace: 'search' }],
  trustedKeys: 'tofu',
};

async function usage(client: HeraldClient): Promise<void> {
  // get<T> is T | undefined; without T, unknown.
  const _max = client.get<number>('payments', 'db/pool/max');
  expectType<Equal<typeof _max, number | undefined>>();
  const _any = client.get('search', 'k');
  expectType<Equal<typeof _any, unknown>>();
  client.get<string>('payments', 'k', { labels: ['prod'] });
  // @ts-expect-error labels are strings
  client.get('payments', 'k', { labels: [1] });

  const _values = client.values('payments');
  expectType<Equal<typeof _values, Readonly<Record<string, unknown>> | undefined>>();
  const snapshot = client.snapshot('payments', ['prod']);
  expectType<Equal<typeof snapshot, ViewSnapshot | undefined>>();
  if (snapshot) {
    expectType<Equal<typeof snapshot.seq, number>>();
    expectType<Equal<typeof snapshot.digest, string>>();
    expectType<Equal<typeof snapshot.revision, number>>();
    expectType<Equal<typeof snapshot.source, 'cache' | 'server'>>();
    // @ts-expect-error snapshots are read-only
    snapshot.seq = 1;
  }

  // Lifecycle: promises only.
  expectType<Equal<ReturnType<HeraldClient['start']>, Promise<void>>>();
  expectType<Equal<ReturnType<HeraldClient['ready']>, Promise<void>>>();
  expectType<Equal<ReturnType<HeraldClient['close']>, Promise<void>>>();
  expectType<Equal<ReturnType<HeraldClient['destroy']>, Promise<void>>>();
  expectType<Equal<ReturnType<HeraldClient['closed']>, Promise<void | Error>>>();
  await client.ready({ signal: AbortSignal.timeout(10) });
  await using _disposable = client;
  expectType<Equal<typeof _disposable, HeraldClient>>();

  for await (const change of client.changes({ namespace: 'payments' })) {
    expectType<Equal<typeof change, ViewChange>>();
    expectType<Equal<typeof change.changedKeys, readonly string[]>>();
    expectType<Equal<typeof change.via, 'cache' | 'snapshot' | 'delta'>>();
    expectType<Equal<typeof change.previous, ViewSnapshot | undefined>>();
    // @ts-expect-error values are read-only
    change.newValues.x = 1;
  }

  // status() is an async iterable of a discriminated union.
  for await (const status of client.status()) {
    switch (status.type) {
      case 'rejected':
        expectType<Equal<typeof status.code, RejectionCode>>();
        expectType<Equal<typeof status.seq, number | undefined>>();
        break;
      case 'reconnecting':
        expectType<Equal<typeof status.delayMs, number>>();
        break;
      case 'trusted-on-first-use':
        expectType<Equal<(typeof status.keys)[number]['keyId'], string>>();
        break;
      case 'closed':
        expectType<Equal<typeof status.error, Error | undefined>>();
        break;
      default:
        break;
    }
  }
  expectType<
    Equal<
      Extract<
        ClientStatusType,
        | 'connecting'
        | 'connected'
        | 'disconnected'
        | 'reconnecting'
        | 'stale-cache'
        | 'trusted-on-first-use'
        | 'rejected'
        | 'closed'
      >,
      | 'connecting'
      | 'connected'
      | 'disconnected'
      | 'reconnecting'
      | 'stale-cache'
      | 'trusted-on-first-use'
      | 'rejected'
      | 'closed'
    >
  >();
  const status: ClientStatus = {
    type: 'connected',
    revision: 1,
    heartbeatMs: 1000,
    endpoint: 'http://127.0.0.1:7400/',
  };
  // @ts-expect-error a rejected status needs its reason
  const incomplete: ClientStatus = { type: 'rejected', namespace: 'n', labels: [], seq: 1, code: 'digest_mismatch' };
  void status;
  void incomplete;

  client.reportHealth('degraded', 'db slow');
  const health: HealthStatus = 'failing';
  client.reportHealth(health);
  // @ts-expect-error only ok, degraded and failing
  client.reportHealth('sick');

  const _error = new HeraldClientError('unknown_view', 'x');
  expectType<Equal<typeof _error.code, ClientErrorCode>>();
}

// The validate hook may return nothing, a reason, or a promise of either.
const sync: ValidateHook = (values) =>
  typeof values['db/pool/max'] === 'number' ? undefined : 'db/pool/max must be a number';
const asyncHook: ValidateHook = async (_values, _view) => {
  expectType<Equal<typeof _view.seq, number>>();
};
const throwing: ValidateHook = () => {
  throw new Error('no');
};
// @ts-expect-error a boolean is not a reason
const wrong: ValidateHook = () => false;

// @ts-expect-error trustedKeys is required: there is no insecure default
const missingTrust: HeraldClientOptions = { url: 'http://x', token: 't', instanceId: 'i', views: [] };
// @ts-expect-error attributes are strings
const badAttributes: HeraldClientOptions = { ...options, attributes: { replicas: 3 } };
// @ts-expect-error trustedKeys is keys or 'tofu'
const badTrust: HeraldClientOptions = { ...options, trustedKeys: 'trust-me' };

void it('the public types compile; construction does no I/O', async () => {
  const client = new HeraldClient({ ...options, validate: sync });
  void usage;
  void [asyncHook, throwing, wrong, missingTrust, badAttributes, badTrust];
  await client.close();
});
