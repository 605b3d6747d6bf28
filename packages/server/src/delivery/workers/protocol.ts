/**
 * The messages between the primary and its watch workers (over the fork IPC channel, advanced
 * serialisation, so frames travel as bytes and stream ids as one Int32Array per write).
 */

/** Primary → worker. `adopt` carries the client's socket as the message's handle. */
export type ToWorker =
  | { t: 'adopt'; id: number }
  /** The same frame to every stream named, in order with everything sent before it. */
  | { t: 'write'; frame: Uint8Array; ids: Int32Array }
  | { t: 'end'; id: number }
  | { t: 'destroy'; id: number }
  /** Shutdown: end every stream cleanly, then exit. */
  | { t: 'close' };

/**
 * Worker → primary: a socket was taken (the primary sends the next one only then), or a stream
 * closed (the client left, a write failed, or it was `cut` for reading too slowly).
 */
export type FromWorker = { t: 'adopted'; id: number } | { t: 'closed'; id: number; cut: boolean };
