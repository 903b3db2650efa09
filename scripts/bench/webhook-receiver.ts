/** A webhook receiver in the bench process: it verifies every message and times it from the recharge's acceptance. */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { API_KEY } from './config.js';
import { percentile, round2 } from './util.js';

type Heard = { rechargeId: string; createdAt: number; receivedAt: number };

/**
 * Listens on 127.0.0.1 and registers itself with the service as the bootstrap client's endpoint. Each
 * message is verified with the `standardwebhooks` package as a real receiver would; one that does not
 * verify is counted, and fails the phase.
 */
export async function startWebhookReceiver(serviceUrl: string) {
  const heard: Heard[] = [];
  let unverified = 0;
  let verifier: Webhook | undefined;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const receivedAt = Date.now();
      try {
        const headers = Object.fromEntries(
          Object.entries(request.headers).map(([name, value]) => [name, String(value)]),
        );
        const payload = verifier?.verify(Buffer.concat(chunks).toString('utf8'), headers) as {
          data: { id: string; created_at: string };
        };
        heard.push({
          rechargeId: payload.data.id,
          createdAt: Date.parse(payload.data.created_at),
          receivedAt,
        });
      } catch {
        unverified += 1;
      }
      response.writeHead(204).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const registered = await fetch(`${serviceUrl}/WebhookEndpoints`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: `http://127.0.0.1:${port}/hooks` }),
  });
  if (registered.status !== 201)
    throw new Error(`webhook endpoint not registered: ${await registered.text()}`);
  const endpoint = (await registered.json()) as { id: string; secret: string };
  verifier = new Webhook(endpoint.secret);

  return {
    /** Messages heard of recharges accepted in [from, to). */
    between(from: Date, to: Date): Heard[] {
      return heard.filter((entry) => entry.createdAt >= from.getTime() && entry.createdAt < to.getTime());
    },
    unverified: () => unverified,
    summary(entries: Heard[]) {
      const latencies = entries.map((entry) => entry.receivedAt - entry.createdAt).sort((a, b) => a - b);
      return {
        messages: entries.length,
        distinctRecharges: new Set(entries.map((entry) => entry.rechargeId)).size,
        p50Ms: round2(percentile(latencies, 0.5)),
        p99Ms: round2(percentile(latencies, 0.99)),
        maxMs: round2(latencies.at(-1) ?? 0),
      };
    },
    /** Unregisters the endpoint (later phases send no messages), then stops listening. */
    async close() {
      await fetch(`${serviceUrl}/WebhookEndpoints?id=${endpoint.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${API_KEY}` },
      });
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
