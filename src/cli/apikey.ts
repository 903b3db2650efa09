import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { type Config, ConfigError, loadConfig } from '../config.js';
import { createDatabase } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import {
  createApiKeyServiceOn,
  createLocalRevocationBus,
  createRedisRevocationBus,
  type NewApiKey,
  NewApiKeySchema,
  type RevocationBus,
} from '../modules/api-keys/index.js';
import { createAjv } from '../plugins/validation.js';
import { createRedis } from '../redis.js';
import { createRedisBroadcast } from '../redis-broadcast.js';
import { SCOPES } from '../shared/access.js';
import { AppError } from '../shared/errors.js';
import { OPERATOR, type Output, runAsMain } from './operator.js';

const USAGE = `usage:
  npm run apikey -- create --name NAME [--client CLIENT] --scopes SCOPE[,SCOPE...]
  npm run apikey -- list
  npm run apikey -- revoke --id ID
scopes: ${SCOPES.join(', ')}`;

/** Operators' key management on the configured database; returns the process exit code. */
export async function runApiKeyCli(argv: string[], env: NodeJS.ProcessEnv, output: Output): Promise<number> {
  let config: Config;
  let parsed: ReturnType<typeof parse>;
  try {
    config = loadConfig(env);
    parsed = parse(argv);
  } catch (error) {
    output.err(`${(error as Error).message}\n${error instanceof ConfigError ? '' : USAGE}\n`);
    return 2;
  }
  const database = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  const log = pino({ level: 'warn' }, pino.destination(2));
  const redis = config.redisUrl ? createRedis(config.redisUrl, log) : undefined;
  let revocations: RevocationBus = createLocalRevocationBus();
  try {
    await migrateToLatest(database.db);
    if (redis) {
      // Redis only carries the news of a revocation; the database is the record. Without Redis the command
      // still does its work, and says how soon the instances find out (docs/operations.md).
      try {
        await redis.connect();
        const channel = `${config.redisPrefix}api-keys:revoked`;
        revocations = createRedisRevocationBus(await createRedisBroadcast<string>({ redis, channel, log }));
      } catch (error) {
        output.err(
          `Redis is unreachable (${(error as Error).message}): a key revoked now is refused by every instance once its cached copy expires, within 60 s\n`,
        );
      }
    }
    const keys = createApiKeyServiceOn(database.db, { revocations });
    if (parsed.command === 'create') {
      const { record, key } = await keys.createKey(parsed.input, OPERATOR);
      output.out(`${JSON.stringify({ ...record, created_at: record.created_at.toISOString(), key })}\n`);
      output.err('Store the key now: it is not shown again.\n');
    } else if (parsed.command === 'list') {
      for (const record of await keys.listKeys()) {
        output.out(`${record.id}\t${record.client}\t${record.scopes.join(',')}\t${record.name}\n`);
      }
    } else {
      await keys.revokeKey(parsed.id, OPERATOR);
      output.out(`revoked ${parsed.id}\n`);
    }
    return 0;
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    output.err(`${error.detail}\n`);
    return 1;
  } finally {
    await revocations.close();
    redis?.disconnect();
    await database.close();
  }
}

function parse(argv: string[]) {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      client: { type: 'string' },
      scopes: { type: 'string' },
      id: { type: 'string' },
    },
  });
  const [command] = positionals;
  if (command === 'list') return { command } as const;
  if (command === 'revoke' && values.id) return { command, id: values.id } as const;
  if (command === 'create' && values.name && values.scopes) {
    const scopes = values.scopes.split(',').map((scope) => scope.trim());
    const input = { name: values.name, scopes, ...(values.client ? { client: values.client } : {}) };
    // The same rules, and the same validator, as POST /ApiKeys.
    const validate = createAjv(false).compile(NewApiKeySchema);
    const error = validate(input) ? undefined : validate.errors?.[0];
    if (error) throw new Error(`invalid ${error.instancePath.split('/')[1]}: ${error.message}`);
    return { command, input: input as NewApiKey } as const;
  }
  throw new Error('missing or incomplete command');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runAsMain(runApiKeyCli);
