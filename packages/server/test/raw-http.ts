import { connect, type Socket } from 'node:net';

/** A raw TCP connection to a test server, for requests no HTTP client would send. */
export async function openSocket(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** Everything the server sends until it closes the connection (bounded by a liveness guard). */
export function readUntilClosed(socket: Socket, guardMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection; it sent: ${text}`));
    }, guardMs);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(guard);
      resolve(text);
    });
  });
}

/** The status line's code and the JSON body of a raw HTTP/1.1 response. */
export function parseRawResponse(text: string): { status: number; headers: string; body: Record<string, unknown> } {
  const [head = '', body = ''] = text.split('\r\n\r\n', 2);
  const status = Number(/^HTTP\/1\.1 (\d{3})/u.exec(head)?.[1]);
  return { status, headers: head.toLowerCase(), body: JSON.parse(body) as Record<string, unknown> };
}
