import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got: its path, headers and body as sent. */
export type Received = { path: string; headers: Record<string, string>; body: string; at: number };

/** How the receiver answers a request; the default answers 204. */
export type Answer = (received: Received, response: ServerResponse) => void;

/**
 * A webhook receiver on 127.0.0.1, as a client would run one: it keeps every request and answers as
 * `answer` says, which a test may change at any time.
 */
export async function startReceiver(answer: Answer = (_, response) => response.writeHead(204).end()) {
  const received: Received[] = [];
  const state = { answer };
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const headers = Object.fromEntries(
        Object.entries(request.headers).map(([name, value]) => [name, String(value)]),
      );
      const entry = {
        path: request.url ?? '/',
        headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      received.push(entry);
      state.answer(entry, response);
    });
  });
  let connections = 0;
  server.on('connection', () => {
    connections += 1;
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: (path = '/hooks') => `http://127.0.0.1:${port}${path}`,
    received,
    /** TCP connections accepted, a request or not (a TLS handshake to this plain server is one). */
    connections: () => connections,
    answerWith(next: Answer) {
      state.answer = next;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;
