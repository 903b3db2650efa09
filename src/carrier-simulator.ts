import { startCarrierSimulator } from './modules/carrier/carrier-simulator.js';

/**
 * `npm run carrier:sandbox`: the carrier simulator as a server of its own, for CARRIER=http against
 * something that behaves like an aggregator (docs/carrier-protocol.md). It prints its URL, then serves
 * until SIGTERM or SIGINT.
 */
function numberFrom(name: string, fallback: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  // Plain decimals only: Number() would read ' ' as 0 (a random port) and '0x10' as 16.
  const value = /^[0-9]+(\.[0-9]+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(value) || value > max) {
    throw new Error(`invalid environment variable ${name}: expected a number from 0 to ${max}`);
  }
  return value;
}

try {
  const simulator = await startCarrierSimulator({
    port: numberFrom('PORT', 4010, 65_535),
    host: process.env.HOST || '127.0.0.1',
    latencyMs: numberFrom('SIMULATOR_LATENCY_MS', 0, 600_000),
    unavailableRate: numberFrom('SIMULATOR_UNAVAILABLE_RATE', 0, 1),
    resetRate: numberFrom('SIMULATOR_RESET_RATE', 0, 1),
    lostAnswerRate: numberFrom('SIMULATOR_LOST_ANSWER_RATE', 0, 1),
    seed: process.env.SIMULATOR_SEED ? numberFrom('SIMULATOR_SEED', 0, 2 ** 32 - 1) : undefined,
  });
  process.stdout.write(`carrier simulator listening at ${simulator.url}\n`);
  const stop = () => {
    // Held requests (the dropped and lost sends) are cut, so closing does not wait for clients' timeouts.
    void simulator.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
