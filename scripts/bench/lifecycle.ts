/** The lifecycle phase: recharges at a fixed rate dispatched to the sandbox carrier until every one is final. */
import {
  LIFECYCLE_DRAIN_MS,
  LIFECYCLE_RATE,
  RECHARGE_POST,
  REDIS_URL,
  SECONDS,
  TARGETS,
  TARGETS_LIMITS,
  type Target,
  WARMUP_SECONDS,
} from './config.js';
import { adminQuery } from './database.js';
import { generateLoad } from './load.js';
import type { Pinning } from './machine.js';
import { verdict } from './report.js';
import { startRoundServers } from './servers.js';
import { round2, round3 } from './util.js';
import { startWebhookReceiver } from './webhook-receiver.js';

/**
 * End to end: recharges POSTed at a fixed rate (BENCH_LIFECYCLE_RATE, default 1000/s) for BENCH_SECONDS,
 * dispatched by the service's own dispatcher to the sandbox carrier, then waited for until final. The time
 * from acceptance to `completed` is read from the rows (created_at, and updated_at of the final status),
 * both stamped by PostgreSQL's clock; the POST's own latency is autocannon's. The hello POST of the same
 * run, at saturation, is the yardstick. Every final status is pushed to a webhook receiver in this process,
 * which verifies each message; the time to it runs from the recharge's created_at to the message's arrival
 * (one machine, one clock).
 */
export async function lifecyclePhase(serviceEnv: Record<string, string>, pinning: Pinning, schema: string) {
  const servers = await startRoundServers(serviceEnv, pinning);
  const receiver = await startWebhookReceiver(servers.baseUrls.service);
  try {
    const helloPost = TARGETS.find((target) => target.name === 'hello POST') as Target;
    await generateLoad(helloPost, servers.baseUrls.hello, WARMUP_SECONDS);
    const hello = await generateLoad(helloPost, servers.baseUrls.hello, SECONDS);
    await generateLoad(RECHARGE_POST, servers.baseUrls.service, WARMUP_SECONDS, LIFECYCLE_RATE);
    await waitUntilFinal(schema, new Date());
    const from = new Date();
    const result = await generateLoad(RECHARGE_POST, servers.baseUrls.service, SECONDS, LIFECYCLE_RATE);
    const loadEnded = new Date();
    const drainedAt = await waitUntilFinal(schema, loadEnded);
    const finals = Number(
      (
        await adminQuery(
          `select count(*)::int as finals from ${schema}.recharges
           where created_at >= $1 and created_at < $2 and status in ('completed', 'failed')`,
          [from, loadEnded],
        )
      ).rows[0]?.finals,
    );
    const webhooksDeadline = Date.now() + LIFECYCLE_DRAIN_MS;
    while (receiver.between(from, loadEnded).length < finals && Date.now() < webhooksDeadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const webhooks = {
      ...receiver.summary(receiver.between(from, loadEnded)),
      expected: finals,
      unverified: receiver.unverified(),
    };
    const { rows } = await adminQuery(
      `select count(*)::int as recharges,
              count(*) filter (where status = 'completed')::int as completed,
              max(updated_at) as last_final,
              percentile_cont(0.5) within group (order by extract(epoch from updated_at - created_at))
                filter (where status = 'completed') * 1000 as p50_ms,
              percentile_cont(0.99) within group (order by extract(epoch from updated_at - created_at))
                filter (where status = 'completed') * 1000 as p99_ms,
              max(extract(epoch from updated_at - created_at)) * 1000 as max_ms
         from ${schema}.recharges where created_at >= $1 and created_at < $2`,
      [from, loadEnded],
    );
    const row = rows[0] as Record<string, number | Date>;
    const seconds = (loadEnded.getTime() - from.getTime()) / 1000;
    // From the first acceptance to the last completion: a backlog that grows shows as a slower rate.
    const completedPerSecond =
      Number(row.completed) / (((row.last_final as Date).getTime() - from.getTime()) / 1000);
    return {
      rate: LIFECYCLE_RATE,
      seconds: round2(seconds),
      helloPostRequestsPerSecond: round2(hello.requests.average),
      posted: result['2xx'],
      stored: Number(row.recharges),
      completed: Number(row.completed),
      completedPerSecond: round2(completedPerSecond),
      ratioToHelloPost: round3(completedPerSecond / hello.requests.average),
      postP99Ms: result.latency.p99,
      acceptedToCompletedP50Ms: round2(Number(row.p50_ms)),
      acceptedToCompletedP99Ms: round2(Number(row.p99_ms)),
      acceptedToFinalMaxMs: round2(Number(row.max_ms)),
      drainedMsAfterLoad: drainedAt - loadEnded.getTime(),
      webhooks,
    };
  } finally {
    await receiver.close();
    await servers.stop();
  }
}

/** Waits until no recharge is pending or processing; answers when that was seen (epoch ms). */
async function waitUntilFinal(schema: string, since: Date): Promise<number> {
  const deadline = since.getTime() + LIFECYCLE_DRAIN_MS;
  for (;;) {
    const { rows } = await adminQuery(
      `select count(*)::int as unfinished from ${schema}.recharges where status in ('pending', 'processing')`,
    );
    if (Number(rows[0]?.unfinished) === 0) return Date.now();
    if (Date.now() > deadline)
      throw new Error(`${rows[0]?.unfinished} recharges still not final after the drain`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function lifecycleReport(result: Awaited<ReturnType<typeof lifecyclePhase>>, label = ''): string[] {
  return [
    '',
    `LIFECYCLE${label}  recharge POSTs at ${result.rate}/s for ${result.seconds} s, dispatched to the sandbox ` +
      `carrier (${REDIS_URL && !label ? 'PostgreSQL + Redis' : 'PostgreSQL, no Redis'})`,
    `posted ${result.posted}, stored ${result.stored}, completed ${result.completed}; hello POST ` +
      `${result.helloPostRequestsPerSecond.toFixed(0)} req/s; last final ${result.drainedMsAfterLoad} ms after the load`,
    `accepted → completed  p50 ${result.acceptedToCompletedP50Ms} ms  p99 ${result.acceptedToCompletedP99Ms} ms  ` +
      `max ${result.acceptedToFinalMaxMs} ms; POST p99 ${result.postP99Ms} ms`,
    '',
    verdict(
      'completed per second',
      result.completedPerSecond.toFixed(0),
      `≥ ${TARGETS_LIMITS.lifecycleRate}`,
      result.completedPerSecond >= TARGETS_LIMITS.lifecycleRate,
    ),
    verdict('  as a share of hello POST', result.ratioToHelloPost.toFixed(3), 'reported', true),
    verdict(
      'accepted → completed p99',
      `${result.acceptedToCompletedP99Ms} ms`,
      `≤ ${TARGETS_LIMITS.lifecycleP99Ms} ms`,
      result.acceptedToCompletedP99Ms <= TARGETS_LIMITS.lifecycleP99Ms,
    ),
    `webhooks: ${result.webhooks.messages} messages verified of ${result.webhooks.expected} final recharges ` +
      `(${result.webhooks.unverified} did not verify); POST → webhook received p50 ${result.webhooks.p50Ms} ms, ` +
      `max ${result.webhooks.maxMs} ms`,
    verdict(
      'POST → webhook received p99',
      `${result.webhooks.p99Ms} ms`,
      `≤ ${TARGETS_LIMITS.webhookP99Ms} ms`,
      result.webhooks.p99Ms <= TARGETS_LIMITS.webhookP99Ms &&
        result.webhooks.unverified === 0 &&
        result.webhooks.distinctRecharges === result.webhooks.expected,
    ),
  ];
}
