/**
 * A release as delivery knows it: which content (revision) a namespace's release `seq` carries,
 * and when it was made (the manifests' issuedAt). The store's release record says more (kind,
 * author, note), which delivery never needs; a relay learns only this much from its upstream.
 */
export interface ReleaseRef {
  namespace: string;
  seq: number;
  revision: number;
  createdAt: number;
}
