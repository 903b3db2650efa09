import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAdmin, claro, createTestApp, rechargeBody, type TestApp } from './helpers/app.js';
import { startServerProcess } from './helpers/process.js';

describe('over a real socket', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await createTestApp('pglite');
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(() => t.close());

  it('serves the catalog and a recharge through fetch', async () => {
    const created = await fetch(`${base}/CompanyProducts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...asAdmin },
      body: JSON.stringify(claro),
    });
    expect(created.status).toBe(201);
    const recharge = await fetch(`${base}/PhoneRecharges`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...asAdmin },
      body: JSON.stringify(rechargeBody),
    });
    expect(recharge.status).toBe(201);
    const stored = (await recharge.json()) as { id: string };
    const read = await fetch(`${base}/PhoneRecharges?id=${stored.id}`, { headers: asAdmin });
    expect(read.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await read.json()).toEqual(stored);
  });
});

describe('the server process', () => {
  it('when a configuration variable is bad, then it stops at start-up naming the variable', async () => {
    await expect(startServerProcess({ PORT: 'eighty' })).rejects.toThrow(/invalid environment variable PORT/);
  });

  it('when SIGTERM arrives mid-request, then it finishes the request, stores it, and exits 0', async () => {
    const server = await startServerProcess({ SEED_DEMO_DATA: 'true' });
    const body = JSON.stringify(rechargeBody);
    const socket = connect(server.port, '127.0.0.1');
    let response = '';
    socket.on('data', (chunk: Buffer) => {
      response += chunk.toString('utf8');
    });
    const ended = new Promise((resolve) => socket.on('close', resolve));
    socket.write(
      `POST /PhoneRecharges HTTP/1.1\r\nhost: localhost\r\nauthorization: ${asAdmin.authorization}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
    );
    socket.write(body.slice(0, 10));
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    // New connections are refused while the in-flight request drains.
    await expect(fetch(`http://127.0.0.1:${server.port}/healthz`)).rejects.toThrow();
    socket.end(body.slice(10));
    await ended;
    expect(response).toMatch(/^HTTP\/1\.1 201 Created/);
    expect(await server.exited).toBe(0);
    expect(server.output()).toContain('shutdown complete');

    const restarted = await startServerProcess({ DATA_DIR: server.dataDir });
    try {
      const listed = await fetch(
        `http://127.0.0.1:${restarted.port}/PhoneRecharges?phone_number=5511999999999`,
        { headers: asAdmin },
      );
      // The same recharge, which the restarted instance's dispatcher may have sent on meanwhile.
      const answered = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4));
      const { status: _status, updated_at: _updated, ...stored } = answered;
      expect(answered.status).toBe('pending');
      expect(await listed.json()).toEqual([expect.objectContaining(stored)]);
    } finally {
      restarted.child.kill('SIGTERM');
      await restarted.exited;
    }
  });

  it('when killed outright, then a second process is refused the embedded database while it ran, and takes it over after', async () => {
    const server = await startServerProcess({ SEED_DEMO_DATA: 'true' });
    await expect(startServerProcess({ DATA_DIR: server.dataDir })).rejects.toThrow(
      /the embedded database in .* is already open by another process/,
    );
    server.child.kill('SIGKILL');
    await server.exited;
    // Its lock stays behind, no longer refreshed: the next process waits for it to go stale, then serves.
    const restarted = await startServerProcess({ DATA_DIR: server.dataDir });
    try {
      const catalog = await fetch(`http://127.0.0.1:${restarted.port}/CompanyProducts`, { headers: asAdmin });
      expect(catalog.status).toBe(200);
    } finally {
      restarted.child.kill('SIGTERM');
      await restarted.exited;
    }
  }, 40_000);
});
