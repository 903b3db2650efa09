import pg from 'pg';

const RECONNECT_MS = 1000;

/**
 * LISTENs on a channel on a connection of its own, outside the pool, and reconnects after losing it. A
 * notification only hastens work that a poll would find anyway, so one missed while reconnecting costs
 * latency, never correctness; `onReconnect` lets the listener catch up at once.
 */
export function listenOn(
  url: string,
  channel: string,
  onNotify: () => void,
  onReconnect: () => void = onNotify,
): { close(): Promise<void> } {
  let client: pg.Client | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  async function connect(isReconnect: boolean) {
    const connection = new pg.Client({ connectionString: url });
    connection.on('error', () => {});
    connection.on('end', () => {
      if (!closed) timer = setTimeout(() => void connect(true), RECONNECT_MS);
    });
    connection.on('notification', onNotify);
    try {
      await connection.connect();
      await connection.query(`listen ${pg.escapeIdentifier(channel)}`);
      client = connection;
      if (isReconnect) onReconnect();
    } catch {
      await connection.end().catch(() => {});
    }
  }

  void connect(false);
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      await client?.end().catch(() => {});
    },
  };
}
