import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { LedgerEntryInputSchema } from '../modules/accounts/accounts.schemas.js';
import {
  accountToApi,
  createAccountServiceOn,
  entryToApi,
  type NewEntry,
} from '../modules/accounts/index.js';
import { createAjv } from '../plugins/validation.js';
import { parseDecimalToCents } from '../shared/money.js';
import { MAX_ACCOUNT_AMOUNT } from '../shared/schemas.js';
import { OPERATOR, type Output, openCommand, reportFailure, runAsMain } from './operator.js';

const USAGE = `usage:
  npm run account -- show --client CLIENT
  npm run account -- deposit --client CLIENT --amount 100.00 [--note TEXT]
  npm run account -- adjust --client CLIENT --amount=-5.00 --note TEXT`;

/** Operators' deposits and adjustments on the configured database, as POST /LedgerEntries makes them. */
export async function runAccountCli(argv: string[], env: NodeJS.ProcessEnv, output: Output): Promise<number> {
  const opened = await openCommand(argv, env, output, USAGE, parse);
  if (typeof opened === 'number') return opened;
  const { parsed, database } = opened;
  try {
    const accounts = createAccountServiceOn(database.db);
    if (parsed.command === 'show') {
      const account = await accounts.read(OPERATOR, parsed.client);
      output.out(
        `${JSON.stringify(Array.isArray(account) ? account.map(accountToApi) : accountToApi(account))}\n`,
      );
    } else {
      const { entry } = await accounts.enter(parsed.entry, OPERATOR);
      output.out(`${JSON.stringify(entryToApi(entry))}\n`);
    }
    return 0;
  } catch (error) {
    return reportFailure(error, output);
  } finally {
    await database.close();
  }
}

function parse(argv: string[]) {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { client: { type: 'string' }, amount: { type: 'string' }, note: { type: 'string' } },
  });
  const [command] = positionals;
  const { client, amount, note } = values;
  if (!client) throw new Error('--client is required');
  if (command === 'show') return { command, client } as const;
  if (command !== 'deposit' && command !== 'adjust') throw new Error('missing or unknown command');
  const cents = amount === undefined ? null : parseDecimalToCents(amount);
  if (cents === null || Math.abs(cents) > MAX_ACCOUNT_AMOUNT * 100) {
    throw new Error(`--amount must be an amount such as 100.00, at most ${MAX_ACCOUNT_AMOUNT} either way`);
  }
  const type = command === 'deposit' ? 'deposit' : 'adjustment';
  // The same rules, and the same validator, as POST /LedgerEntries (a note of 1 to 500 characters, …).
  const validate = createAjv(false).compile(LedgerEntryInputSchema);
  if (!validate({ client, type, amount: cents / 100, ...(note === undefined ? {} : { note }) })) {
    const error = validate.errors?.[0];
    throw new Error(`invalid ${error?.instancePath.split('/')[1]}: ${error?.message}`);
  }
  const entry: NewEntry = { client, type, amount_cents: cents, note: note ?? null };
  return { command, entry } as const;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runAsMain(runAccountCli);
