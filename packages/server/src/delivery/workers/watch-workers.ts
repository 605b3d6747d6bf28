import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import type { TimerClock } from '@herald/core';
import type { WatchStream } from '../sse.js';
import type { FromWorker, ToWorker } from './protocol.js';

const workerEntry = fileURLToPath(new URL('./watch-worker.js', import.meta.url));

/** A worker that lived this long before dying is restarted at once; one that dies sooner, after a growing pause. */
const stableAfterMs = 10_000;
const maxRestartDelayMs = 5_000;

/** What the watch route uses: a socket in, a stream out (undefined: serve it in this process). */
export interface StreamAdopter {
  adopt(socket: Socket, onCutOff: () => void): WatchStream | undefined;
}

export interface WatchWorkersOptions {
  count: number;
  maxStreamBufferBytes: number;
  clock: TimerClock;
  /** Hears of every worker that exited unasked (it is restarted). */
  onExit: (worker: number, detail: { code: number | null; signal: NodeJS.Signals | null }) => void;
}

/**
 * Watch workers: child processes that hold the node's watch sockets, so that writing one update
 * to thousands of sockets (the fan-out's whole cost: one syscall per socket) never holds the
 * primary's event loop, where commits are acknowledged, and is spread over several cores.
 *
 * The primary keeps everything else: it authenticates, admits (caps, stream counts), resolves
 * views, and its WatchHub computes each frame once as before; a stream in a worker is, to the
 * hub, a WatchStream like any other. Its socket is handed to the least loaded worker right after
 * the request is admitted, before a byte of the response is written, so the wire protocol is the
 * same byte for byte. Writes to the streams of one worker are batched: one IPC message per frame
 * per worker, carrying the ids of the streams it goes to.
 *
 * A worker that dies takes its sockets with it: their clients reconnect (to another worker, or
 * the restarted one) with what they hold and get one delta, as after any cut connection. TLS
 * sockets stay in the primary: a TLS session cannot move between processes.
 */
export class WatchWorkers implements StreamAdopter {
  readonly #options: WatchWorkersOptions;
  readonly #slots: Slot[] = [];
  #nextId = 1;
  #closed = false;
  #restarts = 0;

  constructor(options: WatchWorkersOptions) {
    this.#options = options;
    for (let index = 0; index < options.count; index += 1) this.#slots.push(new Slot(index + 1));
  }

  start(): void {
    for (const slot of this.#slots) if (!slot.child) this.#spawn(slot);
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** Open streams per worker, in worker order (1-based numbers in the metrics). */
  streamsPerWorker(): number[] {
    return this.#slots.map((slot) => slot.streams.size);
  }

  /** The workers' process ids (tests kill them). */
  pids(): Array<number | undefined> {
    return this.#slots.map((slot) => slot.child?.pid);
  }

  adopt(socket: Socket, onCutOff: () => void): WatchStream | undefined {
    if (this.#closed || socket instanceof TLSSocket) return undefined;
    let target: Slot | undefined;
    for (const slot of this.#slots)
      if (slot.child?.connected && (!target || slot.streams.size < target.streams.size)) target = slot;
    if (!target) return undefined;
    const stream = new RemoteStream(this.#nextId, target, onCutOff);
    this.#nextId = this.#nextId >= 0x7fffffff ? 1 : this.#nextId + 1;
    target.streams.set(stream.id, stream);
    // keepOpen, then destroy once sent: the socket then closes here the ordinary way (the HTTP
    // server and the connection limits see it go), while the worker's copy keeps the connection.
    // Nor is the socket the HTTP server's any more: unlinked (`server`), Node does not make the
    // server's close() wait for the worker to report its sockets closed, which never comes when
    // every worker that took one has died since. Shutdown ends them through close() below.
    (socket as Socket & { server: unknown }).server = null;
    target.post({ t: 'adopt', id: stream.id }, socket, (error) => {
      if (error) stream.destroy();
      socket.destroy();
    });
    return stream;
  }

  /** Ends every stream cleanly and stops the workers (forcefully past `graceMs`). */
  async close(graceMs = 3_000): Promise<void> {
    this.#closed = true;
    await Promise.all(
      this.#slots.map(async (slot) => {
        slot.cancelRestart(this.#options.clock);
        const child = slot.child;
        if (!child) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        slot.post({ t: 'close' });
        const timer = this.#options.clock.setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        this.#options.clock.clearTimeout(timer);
      }),
    );
  }

  #spawn(slot: Slot): void {
    const child = fork(workerEntry, [String(this.#options.maxStreamBufferBytes)], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // A worker allocates little (a message per frame): a small young generation keeps its memory
      // at what its sockets hold rather than at what V8 would grow it to (16 MiB semi-spaces).
      execArgv: ['--max-semi-space-size=1'],
    });
    const startedAt = this.#options.clock.now();
    slot.child = child;
    child.on('message', (message: FromWorker) => {
      if (message.t === 'adopted') slot.adopted();
      else slot.streams.get(message.id)?.finish(message.cut);
    });
    // A send on a channel that just closed: the exit handler below deals with the streams.
    child.on('error', () => undefined);
    child.once('exit', (code, signal) => {
      slot.child = undefined;
      slot.dropOutbox();
      for (const stream of [...slot.streams.values()]) stream.finish(false);
      if (this.#closed) return;
      this.#restarts += 1;
      this.#options.onExit(slot.number, { code, signal });
      slot.failures = this.#options.clock.now() - startedAt >= stableAfterMs ? 0 : slot.failures + 1;
      const delay = slot.failures === 0 ? 0 : Math.min(maxRestartDelayMs, 100 * 2 ** slot.failures);
      slot.restartTimer = this.#options.clock.setTimeout(() => {
        slot.restartTimer = undefined;
        if (!this.#closed) this.#spawn(slot);
      }, delay);
    });
  }
}

/** One worker process and the streams it holds. */
class Slot {
  readonly number: number;
  child: ChildProcess | undefined;
  readonly streams = new Map<number, RemoteStream>();
  failures = 0;
  restartTimer: unknown;
  /** Writes not yet sent, in order; consecutive writes of the same frame share one entry. */
  #batch: Array<{ frame: Buffer; ids: number[] }> = [];
  #flushQueued = false;
  /**
   * Messages not yet handed to the channel, in order. Node queues every message sent while a
   * socket handed over awaits its acknowledgement and re-queues the rest after each one: with
   * hundreds of sockets arriving at once (a reconnect storm) that costs the primary quadratic
   * time. So one socket at a time is in flight (until the worker says `adopted`), and what
   * follows waits here, in order.
   */
  #outbox: Outgoing[] = [];
  #outboxHead = 0;
  #adopting = false;

  constructor(number: number) {
    this.number = number;
  }

  queue(frame: Buffer, id: number): void {
    const last = this.#batch.at(-1);
    if (last?.frame === frame) last.ids.push(id);
    else this.#batch.push({ frame, ids: [id] });
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    // A fan-out writes one frame to every member of a group in one synchronous loop: sent as one message.
    queueMicrotask(() => this.#flush());
  }

  /** Sends a control message after every write queued before it. */
  post(message: ToWorker, socket?: Socket, callback?: (error: Error | null) => void): void {
    this.#flush();
    if (!this.child?.connected) {
      callback?.(new Error('the watch worker is gone'));
      return;
    }
    this.#outbox.push({ message, socket, callback });
    this.#pump();
  }

  /** The worker took the socket in flight: the next may go. */
  adopted(): void {
    this.#adopting = false;
    this.#pump();
  }

  /** The worker is gone: sockets waiting to be handed over are closed (their streams end with the worker's). */
  dropOutbox(): void {
    const dropped = this.#outbox.slice(this.#outboxHead);
    this.#outbox = [];
    this.#outboxHead = 0;
    this.#adopting = false;
    for (const { callback } of dropped) callback?.(new Error('the watch worker is gone'));
  }

  #pump(): void {
    const child = this.child;
    while (!this.#adopting && this.#outboxHead < this.#outbox.length && child?.connected) {
      const { message, socket, callback } = this.#outbox[this.#outboxHead] as Outgoing;
      this.#outboxHead += 1;
      if (socket) {
        this.#adopting = true;
        child.send(message, socket, { keepOpen: true }, callback);
      } else child.send(message);
    }
    if (this.#outboxHead === this.#outbox.length) {
      this.#outbox = [];
      this.#outboxHead = 0;
    }
  }

  cancelRestart(clock: TimerClock): void {
    clock.clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }

  #flush(): void {
    this.#flushQueued = false;
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    if (!this.child?.connected) return;
    for (const { frame, ids } of batch)
      this.#outbox.push({ message: { t: 'write', frame, ids: Int32Array.from(ids) } });
    this.#pump();
  }
}

interface Outgoing {
  message: ToWorker;
  socket?: Socket | undefined;
  callback?: ((error: Error | null) => void) | undefined;
}

/** A stream whose socket a worker holds. */
class RemoteStream implements WatchStream {
  readonly id: number;
  readonly #slot: Slot;
  readonly #onCutOff: () => void;
  #closed = false;
  readonly #onClose: Array<() => void> = [];

  constructor(id: number, slot: Slot, onCutOff: () => void) {
    this.id = id;
    this.#slot = slot;
    this.#onCutOff = onCutOff;
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(frame: Buffer): void {
    if (!this.#closed) this.#slot.queue(frame, this.id);
  }

  onClose(listener: () => void): void {
    if (this.#closed) listener();
    else this.#onClose.push(listener);
  }

  end(): void {
    if (this.#closed) return;
    this.#slot.post({ t: 'end', id: this.id });
    this.finish(false);
  }

  destroy(): void {
    if (this.#closed) return;
    this.#slot.post({ t: 'destroy', id: this.id });
    this.finish(false);
  }

  /** The stream is over (the worker said so, or is gone): its subscriptions and caps are released. */
  finish(cut: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#slot.streams.delete(this.id);
    if (cut) this.#onCutOff();
    for (const listener of this.#onClose.splice(0)) listener();
  }
}
