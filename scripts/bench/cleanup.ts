/** What runs at exit, also on Ctrl-C or a failure: servers stopped, the schema dropped, the connection closed. */

export const cleanups: Array<() => Promise<void>> = [];
let aborting = false;

export async function runCleanups(): Promise<void> {
  // Reverse order: servers stop (and release their pools) before their schema is dropped.
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup().catch((error: unknown) => {
      process.stderr.write(
        `cleanup step failed: ${error instanceof Error ? error.message : String(error)}\n`,
      );
    });
  }
}

export async function abort(signal: string): Promise<void> {
  if (aborting) return;
  aborting = true;
  process.stderr.write(`\n${signal}: stopping servers and dropping the schema\n`);
  await runCleanups();
  process.exit(130);
}
