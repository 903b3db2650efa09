import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

/** `toTarget`: bytes the app sends to the database or Redis; `toClient`: their answers. */
export type Direction = 'toTarget' | 'toClient';

/** What happens to a chunk; a hook that returns a promise holds the chunk (and all after it) until it settles. */
export type ChunkVerdict = 'forward' | 'drop';

/** One proxied connection: the app's socket and the one to the target. */
export type ProxyLink = {
  readonly id: number;
  readonly client: Socket;
  readonly target: Socket | undefined;
  /** Destroys both sockets with a TCP reset, as a broken network or a killed peer would. */
  cut(): void;
};

export type ChunkHook = (
  chunk: Buffer,
  direction: Direction,
  link: ProxyLink,
) => ChunkVerdict | Promise<ChunkVerdict>;

/**
 * `open`: pipes. `refuse`: new connections are reset at once (existing ones go on). `blackhole`: new
 * connections are accepted and never answered, and every byte of the existing ones is lost, as behind a
 * firewall that drops a flow: a peer that waits for an answer waits until its own timeout.
 */
export type ProxyMode = 'open' | 'refuse' | 'blackhole';

export type TcpProxy = {
  readonly port: number;
  readonly mode: ProxyMode;
  /** Connections accepted and not yet closed, blackholed ones included. */
  readonly openLinks: number;
  /** The same URL with its host and port replaced by the proxy's. */
  urlFor(targetUrl: string): string;
  /** Sees every chunk that would be forwarded, in order per direction; `undefined` removes the hook. */
  onChunk(hook: ChunkHook | undefined): void;
  cutAll(): void;
  refuse(): void;
  blackhole(): void;
  /** Back to `open`; connections that were blackholed at accept time never reached the target, so they are cut. */
  restore(): void;
  close(): Promise<void>;
};

/** A TCP proxy on 127.0.0.1, inside the test process, in front of `target`. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const links = new Set<ProxyLink>();
  const strandedLinks = new Set<ProxyLink>();
  let mode: ProxyMode = 'open';
  let hook: ChunkHook | undefined;
  let nextId = 1;

  const server = createServer({ noDelay: true }, (client) => {
    client.on('error', () => {});
    if (mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    const upstream = mode === 'blackhole' ? undefined : connect({ ...target, noDelay: true });
    const link: ProxyLink = {
      id: nextId++,
      client,
      target: upstream,
      cut() {
        resetQuietly(client);
        if (upstream) resetQuietly(upstream);
      },
    };
    links.add(link);
    client.on('close', () => {
      links.delete(link);
      strandedLinks.delete(link);
      upstream?.destroy();
    });
    if (!upstream) {
      strandedLinks.add(link);
      client.resume(); // read and forget: nothing ever answers
      return;
    }
    upstream.on('error', () => {});
    upstream.on('close', () => client.destroy());
    pipe(client, upstream, 'toTarget', link);
    pipe(upstream, client, 'toClient', link);
  });

  function pipe(from: Socket, to: Socket, direction: Direction, link: ProxyLink) {
    // One chain per direction keeps chunks in order even while a hook holds one of them.
    let chain = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      const lostInTransit = mode === 'blackhole';
      chain = chain.then(async () => {
        if (lostInTransit) return;
        const verdict = hook ? await hook(chunk, direction, link) : 'forward';
        if (verdict === 'forward' && !to.destroyed) to.write(chunk);
      });
    });
    from.on('end', () => {
      chain = chain.then(() => {
        if (!to.destroyed) to.end();
      });
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    port,
    get mode() {
      return mode;
    },
    get openLinks() {
      return links.size;
    },
    urlFor(targetUrl) {
      const url = new URL(targetUrl);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.toString();
    },
    onChunk(next) {
      hook = next;
    },
    cutAll() {
      for (const link of links) link.cut();
    },
    refuse() {
      mode = 'refuse';
    },
    blackhole() {
      mode = 'blackhole';
    },
    restore() {
      mode = 'open';
      for (const link of strandedLinks) link.cut();
    },
    async close() {
      for (const link of links) link.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function resetQuietly(socket: Socket) {
  if (socket.destroyed) return;
  if (socket.readyState === 'opening') socket.destroy();
  else socket.resetAndDestroy();
}

/** Host and port of a postgres:// or redis:// URL, for `startTcpProxy`. */
export function targetOf(url: string, defaultPort: number): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname || '127.0.0.1', port: Number(parsed.port || defaultPort) };
}
