import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeliveryEngine } from '../../src/modules/webhooks/delivery.js';
import type {
  AttemptOutcome,
  ClaimedMessage,
  DeliveryRepository,
} from '../../src/modules/webhooks/delivery.repository.js';
import { createUrlGuard } from '../../src/modules/webhooks/url-guard.js';
import { type Receiver, startReceiver } from '../helpers/receiver.js';

const SCHEDULE_MS = [5_000, 60_000];

function message(url: string, attempts: number): ClaimedMessage {
  return {
    id: 'msg_0193c6f08a4e7c1d9b2f3e5a7d9c1b42',
    endpoint_id: 'ep_5f0c6f0a8a4e7c1d9b2f3e5a',
    url,
    secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    previous_secrets: [],
    type: 'phone_recharge.completed',
    attempts,
    created_at: new Date(),
    recharge: {
      id: '0193c6f0-8a4e-7c1d-9b2f-3e5a7d9c1b42',
      created_at: new Date(),
      company_id: 'claro_11',
      product_id: 'claro_10',
      phone_number: '5511999999999',
      value_cents: 1000,
      status: 'completed',
      updated_at: new Date(),
      failure_code: null,
    },
  };
}

/** The engine against a repository that hands out one message and keeps what is recorded of it. */
async function attempt(claimed: ClaimedMessage, random: () => number): Promise<AttemptOutcome> {
  let handedOut = false;
  let resolveOutcome: (outcome: AttemptOutcome) => void = () => {};
  const recorded = new Promise<AttemptOutcome>((resolve) => {
    resolveOutcome = resolve;
  });
  const repository = {
    claim: async () => {
      if (handedOut) return [];
      handedOut = true;
      return [claimed];
    },
    record: async (outcomes: AttemptOutcome[]) => {
      for (const outcome of outcomes) resolveOutcome(outcome);
    },
  } as unknown as DeliveryRepository;
  const engine = createDeliveryEngine({
    repository,
    guard: createUrlGuard({ requireHttps: false, allowPrivate: true }),
    log: pino({ level: 'silent' }),
    timeoutMs: 1_000,
    retryScheduleMs: SCHEDULE_MS,
    concurrency: 4,
    perEndpoint: 2,
    pollMs: 60_000,
    random,
  });
  engine.start();
  try {
    return await recorded;
  } finally {
    await engine.stop();
    await engine.close();
  }
}

describe('one webhook attempt', () => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver((entry, response) => {
      const status = Number(entry.path.slice(1));
      if (status === 302) return response.writeHead(302, { location: '/204' }).end();
      response.writeHead(status).end('x'.repeat(100_000));
    });
  });
  afterAll(() => receiver.close());

  it('when the receiver answers 2xx, then the message is delivered', async () => {
    expect(await attempt(message(receiver.url('/204'), 1), Math.random)).toMatchObject({
      status: 'delivered',
      responseStatus: 204,
      retryInMs: null,
      disableEndpoint: false,
    });
  });

  it('when it fails, then the retry waits its delay of the schedule, ±10 % by the jitter', async () => {
    const early = await attempt(message(receiver.url('/500'), 1), () => 0);
    const late = await attempt(message(receiver.url('/500'), 2), () => 1);
    expect(early).toMatchObject({ status: 'pending', responseStatus: 500, retryInMs: 4_500 });
    expect(late).toMatchObject({ status: 'pending', responseStatus: 500, retryInMs: 66_000 });
  });

  it('when the schedule is spent, then the message is failed', async () => {
    expect(await attempt(message(receiver.url('/503'), 3), Math.random)).toMatchObject({
      status: 'failed',
      responseStatus: 503,
      retryInMs: null,
    });
  });

  it('when it answers 410, then the message is failed and the endpoint disabled', async () => {
    expect(await attempt(message(receiver.url('/410'), 1), Math.random)).toMatchObject({
      status: 'failed',
      disableEndpoint: true,
    });
  });

  it('when it redirects, then the redirect is not followed and counts as a failure', async () => {
    const before = receiver.received.filter((entry) => entry.path === '/204').length;
    expect(await attempt(message(receiver.url('/302'), 1), () => 0.5)).toMatchObject({
      status: 'pending',
      responseStatus: 302,
      retryInMs: 5_000,
    });
    expect(receiver.received.filter((entry) => entry.path === '/204').length).toBe(before);
  });

  it('when nothing listens, then there is no status and it is retried', async () => {
    expect(await attempt(message('http://127.0.0.1:9/', 1), () => 0.5)).toMatchObject({
      status: 'pending',
      responseStatus: null,
    });
  });
});
