import { randomBytes } from 'node:crypto';
import { hashToken, issueToken, tokenFromSecret, type Clock, type SecretCipher } from '@herald/core';
import type { Store } from '@herald/store';

const bootstrapActor = 'herald (bootstrap)';

/** What bootstrapping did: generated a token (to show once), registered the given one, or nothing. */
export interface BootstrapOutcome {
  /** A new admin token made for a store that had none; shown this one time. */
  generatedToken?: string;
  /** The id under which HERALD_ADMIN_TOKEN was registered now (absent when it already was). */
  registeredId?: string;
}

/**
 * Makes sure someone can administer a fresh store. With `adminToken` (HERALD_ADMIN_TOKEN) that
 * exact token becomes an admin of every namespace, once: this is also how access is recovered
 * when every admin token is lost. Without it, a store that has no token at all gets a generated
 * admin token, returned so that it can be printed this one time.
 */
export async function ensureBootstrapAdmin(
  store: Store,
  clock: Clock,
  adminToken: string | undefined,
): Promise<BootstrapOutcome> {
  if (adminToken !== undefined) {
    if (adminToken.length < 8) throw new Error('HERALD_ADMIN_TOKEN must be at least 8 characters');
    if (await store.findToken(hashToken(adminToken))) return {};
    const issued = tokenFromSecret(`env-${randomBytes(4).toString('hex')}`, adminToken);
    try {
      await createAdmin(store, clock, issued.id, issued.tokenHash, 'bootstrap admin (HERALD_ADMIN_TOKEN)');
    } catch (error) {
      // Several nodes starting at once race to create it; losing that race is fine.
      if (!(await store.findToken(issued.tokenHash))) throw error;
      return {};
    }
    return { registeredId: issued.id };
  }
  if ((await store.listTokens()).length > 0) return {};
  const issued = issueToken();
  await createAdmin(store, clock, issued.id, issued.tokenHash, 'bootstrap admin');
  return { generatedToken: issued.token };
}

async function createAdmin(store: Store, clock: Clock, id: string, tokenHash: string, name: string): Promise<void> {
  await store.createToken(
    {
      id,
      name,
      scopes: [{ namespaces: '*', role: 'admin' }],
      tokenHash,
      createdAt: clock.now(),
      createdBy: bootstrapActor,
      expiresAt: null,
      revokedAt: null,
    },
    {
      actor: bootstrapActor,
      action: 'token.create',
      target: `token:${id}`,
      details: { name, scopes: [{ namespaces: '*', role: 'admin' }] },
    },
  );
}

/**
 * Secrets written by one node must be readable by every other: the first node records its key's
 * fingerprint in the store, and a node holding another key refuses to start instead of failing
 * on every secret later.
 */
export async function checkSecretKey(store: Store, cipher: SecretCipher): Promise<void> {
  const mine = cipher.fingerprint();
  const recorded = await store.claimSetting('secret_key_fingerprint', mine);
  if (recorded !== mine) {
    throw new Error(
      `this node's secret key (fingerprint ${mine}) is not the key this store's secrets are encrypted with (fingerprint ${recorded}); give every node the same HERALD_SECRET_KEY or --secret-key-file`,
    );
  }
}
