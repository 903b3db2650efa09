import type { FastifyBaseLogger } from 'fastify';
import type { Carrier, Reversal } from '../carrier/carrier.port.js';
import type { RechargeRecord } from '../recharges/index.js';
import type { DispatcherRepository } from './dispatcher.repository.js';

/** How far before the cursor each read starts: a reversal stamped earlier but published late is still seen. */
const FEED_OVERLAP_MS = 5000;

/**
 * Reads the carrier's reversal feed once: every page from a little before the shared cursor, applying each,
 * then moves the cursor up to the first reversal whose recharge is not completed yet (it is read again next
 * time). Paging by (time, reference) means any number of reversals at one instant cannot hold it in place.
 * `isStopping` ends a read between two pages.
 */
export async function readReversalFeed(options: {
  repository: DispatcherRepository;
  carrier: Carrier;
  log: FastifyBaseLogger;
  onRecorded?: ((recharges: RechargeRecord[]) => void) | undefined;
  isStopping: () => boolean;
}): Promise<void> {
  const { repository, carrier, log } = options;
  try {
    const cursor = (await repository.feedCursor(carrier.name)) ?? new Date(0);
    let from: { at: Date; after?: string } = { at: new Date(cursor.getTime() - FEED_OVERLAP_MS) };
    let blocked: Reversal | undefined;
    let last: Reversal | undefined;
    while (!options.isStopping()) {
      const page = await carrier.reversalsSince(from.at, from.after);
      const end = page.at(-1);
      if (!end || (end.reversedAt.getTime() === from.at.getTime() && end.reference === from.after)) break;
      const { reversed, notYetCompleted } = await repository.applyReversals(
        page.map((reversal) => reversal.reference),
      );
      if (reversed.length > 0) options.onRecorded?.(reversed);
      const waiting = new Set(notYetCompleted);
      blocked ??= page.find((reversal) => waiting.has(reversal.reference));
      last = end;
      from = { at: end.reversedAt, after: end.reference };
    }
    const seenUntil = blocked?.reversedAt ?? last?.reversedAt;
    if (seenUntil && seenUntil > cursor) await repository.advanceFeedCursor(carrier.name, seenUntil);
  } catch (error) {
    log.warn({ err: error }, 'carrier reversal feed not read; next second again');
  }
}
