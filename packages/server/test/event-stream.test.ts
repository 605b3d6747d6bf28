// EventStream's buffer bound, over a real loopback TCP connection: a client that reads is never
// cut off for a frame larger than the bound (a large view's snapshot), and one that stops reading
// is cut off once what waits behind that frame passes the bound.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { EventStream, sseResponseHead } from '../src/delivery/sse.js';

const bound = 256 * 1024;
/** Larger than what loopback TCP buffers in the kernel (a few MiB), so most of it waits in the process. */
const snapshotBytes = 32 * 1024 * 1024;

/** A frame: its tag, then `bytes` bytes of padding (the stream only counts bytes). */
function frameOf(bytes: number, tag: string): Buffer {
  return Buffer.concat([Buffer.from(`${tag}:`), Buffer.alloc(bytes, 'x')]);
}

/** Writes `frame` until the stream is cut off (bounded: 32 MiB of frames); how many it took. */
function writeUntilCut(stream: EventStream, frame: Buffer): number {
  let written = 0;
  while (!stream.closed) {
    written += 1;
    assert.ok(written <= snapshotBytes / frame.length, 'the client that never reads was never cut off');
    stream.write(frame);
  }
  return written;
}

void describe('EventStream buffer bound', () => {
  let server: Server;
  const accepted: Socket[] = [];
  const clients: Socket[] = [];

  before(async () => {
    server = createServer((socket) => accepted.push(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });

  after(async () => {
    for (const socket of [...accepted, ...clients]) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** A connected pair: the server's side in an EventStream, the client's raw socket. */
  async function pair(): Promise<{ stream: EventStream; socket: Socket; client: Socket; cuts: () => number }> {
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    const count = accepted.length;
    const client = connect(address.port, '127.0.0.1');
    clients.push(client);
    client.on('error', () => undefined);
    await once(client, 'connect');
    for (let i = 0; i < 200 && accepted.length === count; i += 1) await new Promise((r) => setTimeout(r, 5));
    const socket = accepted[count];
    assert.ok(socket, 'the server accepted the connection');
    let cut = 0;
    const stream = new EventStream(socket, bound, () => (cut += 1));
    return { stream, socket, client, cuts: () => cut };
  }

  void it('lets a snapshot larger than the bound through to a client that reads, with the frames after it', async () => {
    const { stream, socket, client, cuts } = await pair();
    const chunks: Buffer[] = [];
    let received = 0;
    client.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    });
    const snapshot = frameOf(snapshotBytes, 'snapshot');
    const small = [frameOf(100, 'one'), frameOf(100, 'two'), frameOf(100, 'three')];
    stream.write(snapshot);
    // Written while most of the snapshot is still unsent (the client has had no turn to read yet).
    assert.ok(socket.writableLength > bound, `only ${socket.writableLength} bytes of the snapshot wait to be sent`);
    for (const frame of small) stream.write(frame);
    const expected = sseResponseHead.length + snapshot.length + small.reduce((n, f) => n + f.length, 0);
    for (let i = 0; i < 2000 && received < expected; i += 1) await new Promise((r) => setTimeout(r, 5));
    assert.equal(cuts(), 0, 'the reading client was not cut off');
    assert.equal(stream.closed, false);
    const text = Buffer.concat(chunks).toString('utf8');
    assert.equal(Buffer.byteLength(text), expected, 'every byte arrived');
    assert.ok(text.indexOf('one:') > text.indexOf('snapshot:') && text.indexOf('three:') > text.indexOf('two:'));
    stream.destroy();
  });

  void it('cuts off a client that stopped reading once the frames behind a large one pass the bound', async () => {
    const { stream, client, cuts } = await pair();
    client.pause();
    stream.write(frameOf(snapshotBytes, 'snapshot'));
    const delta = frameOf(16 * 1024, 'delta');
    // What the kernel took of the snapshot (a few MiB) may wait behind it too, then the bound.
    const written = writeUntilCut(stream, delta);
    assert.equal(cuts(), 1);
    stream.write(delta);
    assert.equal(cuts(), 1, 'a write after the cut is dropped, not cut off again');
    // Cut off only once more than the bound waited behind the snapshot: 16 frames of 16 KiB.
    assert.ok(written > bound / delta.length, `cut off after ${written} frames`);
  });

  void it('cuts off a client that stopped reading at the bound when every frame is small', async () => {
    const { stream, client, cuts } = await pair();
    client.pause();
    // What the kernel takes first (a few MiB), then the bound.
    writeUntilCut(stream, frameOf(16 * 1024, 'delta'));
    assert.equal(cuts(), 1);
  });
});
