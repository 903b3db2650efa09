import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAdmin, rechargeBody } from './helpers/app.js';
import { booksOf, runningBalancesHold } from './helpers/books.js';
import { createTestDatabase, type TestDatabase } from './helpers/databases.js';
import {
  killDuringRechargeBurst,
  type ServerProcess,
  startServerDespiteDroppedSchemas,
} from './helpers/process.js';
import {
  type ChunkVerdict,
  type ProxyLink,
  startTcpProxy,
  type TcpProxy,
  targetOf,
} from './helpers/tcp-proxy.js';

const pgTargets = process.env.TEST_DATABASE_URL ? [process.env.TEST_DATABASE_URL] : [];

// The statement that stores a recharge and its key (recharges.repository.ts, insertPriced).
const INSERT = 'recharges_priced_insert(';
// ReadyForQuery: PostgreSQL sends it after the Sync, once the implicit transaction has committed.
const READY_FOR_QUERY = Buffer.from([0x5a, 0, 0, 0, 5]);

/** Connects, sends `text`, and returns what came back within `waitMs`, or the error that ended it. */
async function exchange(port: number, text: string, waitMs = 300): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('utf8');
  });
  const ended = new Promise<string>((resolve) => {
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code}`));
    socket.on('close', () => resolve(received));
  });
  socket.write(text);
  const timer = new Promise<string>((resolve) => setTimeout(() => resolve(received), waitMs));
  const outcome = await Promise.race([ended, timer]);
  socket.destroy();
  return outcome;
}

describe('the TCP proxy in front of an echo server', () => {
  let echo: Server;
  let proxy: TcpProxy;
  beforeAll(async () => {
    echo = createServer((socket) => {
      socket.on('error', () => {}); // the proxy resets it on cutAll
      socket.pipe(socket);
    });
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    proxy = await startTcpProxy({ host: '127.0.0.1', port: (echo.address() as AddressInfo).port });
  });
  afterAll(async () => {
    await proxy.close();
    echo.close();
  });

  it('pipes, drops and holds chunks, cuts, refuses, blackholes and restores', async () => {
    expect(await exchange(proxy.port, 'hello')).toBe('hello');

    proxy.onChunk((chunk, direction) =>
      direction === 'toClient' && chunk.includes('secret') ? 'drop' : 'forward',
    );
    expect(await exchange(proxy.port, 'secret')).toBe('');
    let release: (verdict: 'forward') => void = () => {};
    proxy.onChunk(() => new Promise((resolve) => (release = resolve)));
    const held = exchange(proxy.port, 'held', 600);
    await new Promise((resolve) => setTimeout(resolve, 200));
    release('forward');
    proxy.onChunk(undefined);
    expect(await held).toBe('held');

    const open = connect(proxy.port, '127.0.0.1');
    await once(open, 'connect');
    const closed = new Promise((resolve) => open.on('close', resolve));
    open.on('error', () => {});
    await expect.poll(() => proxy.openLinks).toBe(1);
    proxy.cutAll();
    await closed;

    proxy.refuse();
    expect(await exchange(proxy.port, 'anyone?')).toBe('error ECONNRESET');
    proxy.blackhole();
    expect(await exchange(proxy.port, 'anyone?')).toBe('');
    await expect.poll(() => proxy.openLinks).toBe(0);
    proxy.restore();
    expect(await exchange(proxy.port, 'back')).toBe('back');
  });
});

describe.each(pgTargets)('a server process killed mid-recharge (PostgreSQL %s)', (url) => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    proxy = await startTcpProxy(targetOf(url, 5432));
  });
  afterAll(async () => {
    await proxy.close();
    await database.close();
  });

  const withSearchPath = (base: string) =>
    `${base}${base.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${database.schema}`)}`;
  async function start(through: 'proxy' | 'direct') {
    const server = await startServerDespiteDroppedSchemas(
      {
        DATABASE_URL: withSearchPath(through === 'proxy' ? proxy.urlFor(url) : url),
        REDIS_URL: '',
        SEED_DEMO_DATA: 'true',
      },
      database.schema ?? '',
    );
    // As a load balancer would: a process busy starting up may shed its first requests.
    const readiness = () =>
      fetch(`http://127.0.0.1:${server.port}/readyz`).then(
        (response) => response.status,
        () => 0,
      );
    await expect.poll(readiness, { timeout: 10_000, interval: 100 }).toBe(200);
    return server;
  }
  const post = (server: ServerProcess, body: object, key: string) =>
    fetch(`http://127.0.0.1:${server.port}/PhoneRecharges`, {
      method: 'POST',
      headers: { ...asAdmin, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
    });
  async function stored(key: string, phoneNumber: string) {
    const keyed = await database.db
      .selectFrom('idempotency_keys')
      .select('recharge_id')
      .where('key', '=', key)
      .execute();
    const recharges = await database.db
      .selectFrom('recharges')
      .select('id')
      .where('phone_number', '=', phoneNumber)
      .execute();
    return { keyed: keyed.map((row) => row.recharge_id), recharges: recharges.map((row) => row.id) };
  }
  async function retryOnNewServer(body: object, key: string) {
    const server = await start('direct');
    try {
      const response = await post(server, body, key);
      return { status: response.status, headers: response.headers, body: (await response.json()) as object };
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }

  it('when it is killed in the middle of a burst, then after a restart the books still balance', async () => {
    const server = await start('direct');
    const admin = { ...asAdmin, 'content-type': 'application/json' };
    const made = await fetch(`http://127.0.0.1:${server.port}/ApiKeys`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ name: 'burst_shop', scopes: ['recharges:write'] }),
    });
    const { key, client } = (await made.json()) as { key: string; client: string };
    const deposit = await fetch(`http://127.0.0.1:${server.port}/LedgerEntries`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ client, type: 'deposit', amount: 1000 }),
    });
    expect(deposit.status).toBe(201);
    // 300 recharges of 10.00 against 1000.00, half of them to numbers the carrier refuses.
    const statuses = await killDuringRechargeBurst(server, key, 300, 40);
    expect(statuses.filter((status) => status === 0).length).toBeGreaterThan(0);

    const balanced = async () => {
      const books = await booksOf(database, client);
      expect(books.balance).toBe(books.entries_sum);
      expect(books).toMatchObject({
        debits: books.recharges,
        debits_without_recharge: 0,
        recharges_without_debit: 0,
        refunds_not_owed: 0,
      });
      expect(books.lowest_balance_after).toBeGreaterThanOrEqual(0);
      expect(await runningBalancesHold(database, client)).toBe(true);
      return books;
    };
    // Every 201 that reached its client is in the books, whatever else died with the process.
    expect((await balanced()).recharges).toBeGreaterThanOrEqual(
      statuses.filter((status) => status === 201).length,
    );

    const again = await start('direct');
    try {
      await expect
        .poll(async () => (await booksOf(database, client)).unfinished, { timeout: 30_000, interval: 200 })
        .toBe(0);
      const books = await balanced();
      expect(books.refunds_owed).toBe(0);
      expect(books.refunds).toBeGreaterThan(0);
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
  }, 60_000);

  it('when it dies after the commit, before the answer reaches it, then the retry replays that recharge', async () => {
    const key = `after-commit-${randomUUID()}`;
    const body = { ...rechargeBody, phone_number: '5511988880001' };
    const server = await start('proxy');
    const inserting = new WeakSet<ProxyLink>();
    let isKilledOnAnswer = false;
    proxy.onChunk(async (chunk, direction, link): Promise<ChunkVerdict> => {
      if (direction === 'toTarget' && chunk.includes(INSERT)) inserting.add(link);
      if (direction === 'toClient' && inserting.has(link) && chunk.includes(READY_FOR_QUERY)) {
        inserting.delete(link);
        isKilledOnAnswer = true;
        server.child.kill('SIGKILL');
        await server.exited;
      }
      return 'forward';
    });
    await expect(post(server, body, key)).rejects.toThrow();
    proxy.onChunk(undefined);
    expect(isKilledOnAnswer).toBe(true);
    expect(await server.exited).toBeNull();
    const committed = await stored(key, body.phone_number);
    expect(committed.recharges).toHaveLength(1);
    expect(committed.keyed).toEqual(committed.recharges);

    const retry = await retryOnNewServer(body, key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body).toMatchObject({ ...body, id: committed.recharges[0] });
    expect(await stored(key, body.phone_number)).toEqual(committed);
  });

  it('when its database connection is reset mid-statement, then it answers 503 and stays up', async () => {
    const body = { ...rechargeBody, phone_number: '5511988880003' };
    const server = await start('proxy');
    try {
      proxy.onChunk((chunk, direction, link) => {
        if (direction !== 'toTarget' || !chunk.includes(INSERT)) return 'forward';
        proxy.onChunk(undefined);
        link.cut();
        return 'drop';
      });
      const failed = await post(server, body, `reset-${randomUUID()}`);
      expect(failed.status).toBe(503);
      expect(failed.headers.get('retry-after')).toBe('5');
      const retried = await post(server, body, `reset-${randomUUID()}`);
      expect(retried.status).toBe(201);
      expect(server.child.exitCode).toBeNull();
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  it('when it dies before the statement reaches PostgreSQL, then nothing is stored and the retry creates it', async () => {
    const key = `before-commit-${randomUUID()}`;
    const body = { ...rechargeBody, phone_number: '5511988880002' };
    const server = await start('proxy');
    const condemned = new WeakSet<ProxyLink>();
    let isKilledWhileHeld = false;
    proxy.onChunk(async (chunk, direction, link): Promise<ChunkVerdict> => {
      if (direction === 'toClient') return 'forward';
      if (condemned.has(link)) return 'drop';
      if (!chunk.includes(INSERT)) return 'forward';
      condemned.add(link);
      isKilledWhileHeld = true;
      server.child.kill('SIGKILL');
      await server.exited;
      return 'drop';
    });
    await expect(post(server, body, key)).rejects.toThrow();
    proxy.onChunk(undefined);
    expect(isKilledWhileHeld).toBe(true);
    expect(await stored(key, body.phone_number)).toEqual({ keyed: [], recharges: [] });

    const retry = await retryOnNewServer(body, key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    const created = retry.body as { id: string };
    expect(await stored(key, body.phone_number)).toEqual({ keyed: [created.id], recharges: [created.id] });
  });
});
