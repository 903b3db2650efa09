import { loadConfig } from '../config.js';
import { exitOnStartupProblem } from '../startup.js';
import { createDatabase } from './database.js';
import { migrateDatabase } from './migrate.js';

// `npm run db:migrate`: the same migrations the server runs on start-up, for a deploy step or by hand.
try {
  const config = loadConfig();
  const database = await createDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    const results = await migrateDatabase(database, { url: config.databaseUrl });
    for (const result of results) process.stdout.write(`${result.status}: ${result.migrationName}\n`);
    process.stdout.write(`${database.kind}: schema is up to date\n`);
  } finally {
    await database.close();
  }
} catch (error) {
  exitOnStartupProblem('recharge-api db:migrate', error);
}
