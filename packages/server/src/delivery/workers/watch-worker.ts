import type { Socket } from 'node:net';
import { EventStream } from '../sse.js';
import type { FromWorker, ToWorker } from './protocol.js';

/**
 * A watch worker: a child process that holds a share of the node's watch sockets and writes to
 * them what the primary tells it. It knows nothing of views, routes or credentials: the primary
 * authenticates, admits and computes every frame once, then hands over the socket; the worker
 * only pays the per-socket cost (the write syscalls) that would otherwise hold the primary's
 * event loop, and with it every commit's acknowledgement, for as long as a fan-out lasts.
 *
 *   node watch-worker.js <maxStreamBufferBytes>
 */
const maxBufferedBytes = Number(process.argv[2]);
const streams = new Map<number, EventStream>();
let closing = false;

function tell(message: FromWorker): void {
  if (process.connected) process.send?.(message);
}

function adopt(id: number, socket: Socket | undefined): void {
  tell({ t: 'adopted', id });
  if (!socket) return tell({ t: 'closed', id, cut: false });
  let cut = false;
  const stream = new EventStream(socket, maxBufferedBytes, () => (cut = true));
  streams.set(id, stream);
  stream.onClose(() => {
    streams.delete(id);
    tell({ t: 'closed', id, cut });
  });
  // A handed-over socket is not read until asked: reading is how a client's leaving is seen.
  socket.resume();
}

process.on('message', (message: ToWorker, handle?: Socket) => {
  switch (message.t) {
    case 'adopt':
      return adopt(message.id, handle);
    case 'write': {
      const frame = Buffer.from(message.frame.buffer, message.frame.byteOffset, message.frame.byteLength);
      for (const id of message.ids) streams.get(id)?.write(frame);
      return;
    }
    case 'end':
      return streams.get(message.id)?.end();
    case 'destroy':
      return streams.get(message.id)?.destroy();
    case 'close':
      closing = true;
      for (const stream of [...streams.values()]) stream.end();
      // The last chunks drain on their own; the process ends once the sockets have closed (the
      // primary waits for that, and kills it past its grace).
      process.disconnect();
      return;
  }
});

// The primary is gone (crashed, killed): nothing will feed these streams. Cut them, so their
// clients reconnect at once (to the restarted node) rather than wait for a heartbeat to miss.
process.on('disconnect', () => {
  if (closing) return;
  for (const stream of [...streams.values()]) stream.destroy();
  process.exit(0);
});
