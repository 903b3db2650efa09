import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
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
import { OPERATOR, type Output, openCommand, reportFailure, runAsMain } from './operator.js';

const USAGE = `usage:
  npm run apikey -- create --name NAME [--client CLIENT] --scopes SCOPE[,SCOPE...]
  npm run apikey -- list
  npm run apikey -- revoke --id ID
scopes: ${SCOPES.join(', ')}`;

/** Operators' key management on the configured database; returns the process exit code. */
export async function runApiKeyCli(argv: string[], env: NodeJS.ProcessEnv, output: Output): Promise<number> {
  const opened = await openCommand(argv, env, output, USAGE, parse);
  if (typeof opened === 'number') return opened;
  const { config, parsed, database } = opened;
  const log = pino({ level: 'warn' }, pino.destination(2));
  const redis = config.redisUrl ? createRedis(config.redisUrl, log) : undefined;
  let revocations: RevocationBus = createLocalRevocationBus();
  try {
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
    return reportFailure(error, output);
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
    // --client '' is refused as the API refuses "client": "", not taken for no client.
    const input = {
      name: values.name,
      scopes,
      ...(values.client === undefined ? {} : { client: values.client }),
    };
    // The same rules, and the same validator, as POST /ApiKeys.
    const validate = createAjv(false).compile(NewApiKeySchema);
    const error = validate(input) ? undefined : validate.errors?.[0];
    if (error) throw new Error(`invalid ${error.instancePath.split('/')[1]}: ${error.message}`);
    return { command, input: input as NewApiKey } as const;
  }
  throw new Error('missing or incomplete command');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runAsMain(runApiKeyCli);
