import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Carrier, TopUp } from '../src/modules/carrier/carrier.port.js';
import {
  type CarrierSimulator,
  type CarrierSimulatorOptions,
  startCarrierSimulator,
} from '../src/modules/carrier/carrier-simulator.js';
import { createHttpCarrier } from '../src/modules/carrier/http-carrier.js';
import { spawnScript } from './helpers/process.js';

// Short enough to keep the suite quick, long enough for a loaded CI machine to answer a local socket.
const TIMEOUT_MS = 300;

const topUp = (ending: string): TopUp => ({
  reference: randomUUID(),
  phoneNumber: `551199999${ending}`,
  valueCents: 1000,
});

async function creditsOf(simulator: CarrierSimulator, reference: string): Promise<number> {
  const response = await fetch(`${simulator.url}/credits/${reference}`);
  return ((await response.json()) as { credits: number }).credits;
}

const opened: { close(): Promise<void> }[] = [];
afterAll(async () => {
  await Promise.all(opened.map((closable) => closable.close()));
});

async function setUp(
  simulatorOptions: CarrierSimulatorOptions = {},
  timeoutMs = TIMEOUT_MS,
  maxConnections = 4,
) {
  const simulator = await startCarrierSimulator({ seed: 7, ...simulatorOptions });
  const carrier = createHttpCarrier({ url: simulator.url, timeoutMs, maxConnections });
  opened.push(carrier, simulator);
  return { simulator, carrier };
}

describe('the http carrier against the simulator, by ending', () => {
  let simulator: CarrierSimulator;
  let carrier: Carrier;
  beforeAll(async () => {
    ({ simulator, carrier } = await setUp());
  });

  it.each([
    ['9001', { kind: 'refused', code: 'invalid_number' }, { kind: 'refused', code: 'invalid_number' }, 0],
    ['9002', { kind: 'refused', code: 'barred_number' }, { kind: 'refused', code: 'barred_number' }, 0],
    ['9003', { kind: 'transient' }, { kind: 'not_found' }, 0],
    ['9004', { kind: 'transient' }, { kind: 'not_found' }, 0],
    ['9005', { kind: 'unknown' }, { kind: 'credited' }, 1],
    ['9006', { kind: 'unknown' }, { kind: 'not_found' }, 0],
    ['9007', { kind: 'credited' }, { kind: 'credited' }, 1],
    ['9008', { kind: 'in_progress' }, { kind: 'in_progress' }, 1],
    ['9009', { kind: 'refused', code: 'carrier_declined' }, { kind: 'refused', code: 'carrier_declined' }, 0],
    ['0000', { kind: 'credited' }, { kind: 'credited' }, 1],
  ])(
    'a number ending %s: the send gives %o, the status %o, and %i credit(s)',
    async (ending, sent, asked, credits) => {
      const request = topUp(ending);
      expect(await carrier.send(request)).toEqual(sent);
      expect(await carrier.status(request.reference)).toEqual(asked);
      expect(await creditsOf(simulator, request.reference)).toBe(credits);
    },
  );

  it('9006: the send times out, the status says no record, the resend is credited, and only once', async () => {
    const request = topUp('9006');
    expect(await carrier.send(request)).toEqual({ kind: 'unknown' });
    expect(await carrier.status(request.reference)).toEqual({ kind: 'not_found' });
    expect(await carrier.send(request)).toEqual({ kind: 'credited' });
    expect(await carrier.status(request.reference)).toEqual({ kind: 'credited' });
    expect(await creditsOf(simulator, request.reference)).toBe(1);
  });

  it('9004: two 503s, then the third send is credited', async () => {
    const request = topUp('9004');
    const outcomes = [await carrier.send(request), await carrier.send(request), await carrier.send(request)];
    expect(outcomes.map((outcome) => outcome.kind)).toEqual(['transient', 'transient', 'credited']);
    expect(await creditsOf(simulator, request.reference)).toBe(1);
  });

  it('9007 is reversed about 2 s later and shows in the feed; 9008 lands after about 3 s', async () => {
    // A simulator of its own, so that the feed holds only this test's reversal.
    const { simulator, carrier } = await setUp();
    const since = new Date();
    const reversed = topUp('9007');
    const slow = topUp('9008');
    expect(await carrier.send(reversed)).toEqual({ kind: 'credited' });
    expect(await carrier.send(slow)).toEqual({ kind: 'in_progress' });
    expect(await carrier.reversalsSince(since)).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 3_200));
    expect(await carrier.status(reversed.reference)).toEqual({ kind: 'reversed' });
    expect(await carrier.status(slow.reference)).toEqual({ kind: 'credited' });
    const feed = await carrier.reversalsSince(since);
    expect(feed).toEqual([{ reference: reversed.reference, reversedAt: expect.any(Date) }]);
    expect(feed[0]?.reversedAt.getTime()).toBeGreaterThanOrEqual(since.getTime() + 2_000);
    // The next page starts after the last entry of this one, at the same instant.
    const [entry] = feed as [{ reference: string; reversedAt: Date }];
    expect(await carrier.reversalsSince(entry.reversedAt)).toEqual(feed);
    expect(await carrier.reversalsSince(entry.reversedAt, entry.reference)).toEqual([]);
    expect(await carrier.reversalsSince(new Date())).toEqual([]);
    expect(simulator.stats().referencesCreditedMoreThanOnce).toBe(0);
  }, 10_000);
});

describe('the http carrier when the carrier fails', () => {
  it('a 503 is transient and credits nothing', async () => {
    const { simulator, carrier } = await setUp({ unavailableRate: 1 });
    const request = topUp('0000');
    expect(await carrier.send(request)).toEqual({ kind: 'transient' });
    expect(await carrier.status(request.reference)).toEqual({ kind: 'not_found' });
    expect(simulator.stats()).toMatchObject({ sends: 1, credits: 0 });
  });

  it('a refused connection is transient for a send and for a status query; the feed call rejects', async () => {
    const { simulator } = await setUp();
    await simulator.close();
    const carrier = createHttpCarrier({ url: simulator.url, timeoutMs: TIMEOUT_MS, maxConnections: 2 });
    opened.push(carrier);
    expect(await carrier.send(topUp('0000'))).toEqual({ kind: 'transient' });
    expect(await carrier.status(randomUUID())).toEqual({ kind: 'transient' });
    await expect(carrier.reversalsSince(new Date())).rejects.toThrow(/reversal feed unavailable/);
  });

  it('a connection reset after the request was written is unknown; nothing was credited', async () => {
    const { simulator, carrier } = await setUp({ resetRate: 1 });
    const request = topUp('0000');
    expect(await carrier.send(request)).toEqual({ kind: 'unknown' });
    expect(await carrier.status(request.reference)).toEqual({ kind: 'not_found' });
    expect(await creditsOf(simulator, request.reference)).toBe(0);
  });

  it('a credit whose answer is lost is unknown, and the status query finds the credit', async () => {
    const { simulator, carrier } = await setUp({ lostAnswerRate: 1 });
    const request = topUp('0000');
    expect(await carrier.send(request)).toEqual({ kind: 'unknown' });
    expect(await carrier.status(request.reference)).toEqual({ kind: 'credited' });
    expect(await creditsOf(simulator, request.reference)).toBe(1);
  });

  it('a call that timed out waiting for a connection was never sent: transient, not unknown', async () => {
    const { simulator, carrier } = await setUp({ latencyMs: 1_000 }, TIMEOUT_MS, 1);
    const [first, second] = await Promise.all([carrier.send(topUp('0000')), carrier.send(topUp('0000'))]);
    expect(first).toEqual({ kind: 'unknown' });
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    // Usually the second times out still queued behind the first: never sent. On a loaded machine its timer
    // may fire only after the first's abort freed the connection and it was written: then it may have been
    // done, and must say so. Either way, "transient" is never said of a top-up that reached the carrier.
    const sends = simulator.stats().sends;
    expect([second, sends]).toEqual(
      second?.kind === 'transient' ? [{ kind: 'transient' }, 1] : [{ kind: 'unknown' }, 2],
    );
    expect(simulator.stats().credits).toBe(sends);
  });

  describe('answers outside the protocol', () => {
    let server: Server;
    let carrier: Carrier;
    let answer = { status: 200, body: 'not json' };
    beforeAll(async () => {
      server = createServer((_req, res) => res.writeHead(answer.status).end(answer.body));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      carrier = createHttpCarrier({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/`,
        timeoutMs: TIMEOUT_MS,
        maxConnections: 2,
      });
      opened.push(carrier, { close: () => new Promise((resolve) => server.close(() => resolve())) });
    });

    it.each([
      [200, 'not json', { kind: 'unknown' }, { kind: 'transient' }],
      [200, '{"status":"done"}', { kind: 'unknown' }, { kind: 'transient' }],
      [400, '{"error":"bad_request"}', { kind: 'unknown' }, { kind: 'transient' }],
      [422, '{"error":"no_idea"}', { kind: 'unknown' }, { kind: 'transient' }],
      [429, '', { kind: 'transient' }, { kind: 'transient' }],
      [500, '', { kind: 'transient' }, { kind: 'transient' }],
      // A bad gateway or a gateway timeout from a proxy says the request went on to the carrier.
      [502, '', { kind: 'unknown' }, { kind: 'transient' }],
      [504, '', { kind: 'unknown' }, { kind: 'transient' }],
      [503, '', { kind: 'transient' }, { kind: 'transient' }],
      // A 404 without the protocol's body may be a wrong URL: "no record" would allow a resend.
      [404, 'Not Found', { kind: 'unknown' }, { kind: 'transient' }],
      [404, '{"error":"not_found"}', { kind: 'unknown' }, { kind: 'not_found' }],
    ])('a %i answering %j: send %o, status %o', async (status, body, sent, asked) => {
      answer = { status, body };
      expect(await carrier.send(topUp('0000'))).toEqual(sent);
      expect(await carrier.status(randomUUID())).toEqual(asked);
    });
  });
});

describe('the connection pool', () => {
  it('keeps connections alive: 50 calls one after another use one or two connections', async () => {
    const { simulator, carrier } = await setUp({}, 2_000, 4);
    for (let i = 0; i < 50; i += 1) expect(await carrier.send(topUp('0000'))).toEqual({ kind: 'credited' });
    // A second connection may open when a call starts before the pool has seen the first one free again.
    expect(simulator.stats()).toMatchObject({ sends: 50, credits: 50 });
    expect(simulator.stats().connections).toBeLessThanOrEqual(2);
  });

  it('never opens more than maxConnections, and uses them all under load', async () => {
    const { simulator, carrier } = await setUp({ latencyMs: 100 }, 5_000, 3);
    const outcomes = await Promise.all(Array.from({ length: 12 }, () => carrier.send(topUp('0000'))));
    expect(outcomes.every((outcome) => outcome.kind === 'credited')).toBe(true);
    expect(simulator.stats()).toMatchObject({ sends: 12, connections: 3, peakInFlight: 3 });
  });
});

describe('npm run carrier:sandbox', () => {
  const run = (env: Record<string, string>) => spawnScript('src/carrier-simulator.ts', { PORT: '0', ...env });

  it('prints its URL, serves the protocol, and exits 0 on SIGTERM', async () => {
    const simulator = run({ SIMULATOR_SEED: '3' });
    await expect
      .poll(simulator.output, { timeout: 15_000 })
      .toMatch(/listening at http:\/\/127\.0\.0\.1:\d+/);
    const url = /(http:\/\/\S+)/.exec(simulator.output())?.[1];
    const stats = await fetch(`${url}/stats`);
    expect(await stats.json()).toEqual({
      sends: 0,
      credits: 0,
      references_credited_more_than_once: 0,
      connections: 1,
      peak_in_flight: 1,
    });
    simulator.child.kill('SIGTERM');
    expect(await simulator.exited).toBe(0);
  }, 20_000);

  it.each([
    ['SIMULATOR_RESET_RATE', '2'],
    ['PORT', ' '],
    ['SIMULATOR_LATENCY_MS', '0x10'],
  ])(
    'refuses %s=%j at start-up, naming the variable',
    async (name, value) => {
      const simulator = run({ [name]: value });
      expect(await simulator.exited).toBe(1);
      expect(simulator.output()).toContain(`invalid environment variable ${name}`);
    },
    20_000,
  );
});
