import type { Principal } from '../shared/access.js';

// Recorded as the author in the audit trail: changes made from a shell, not through the API.
export const OPERATOR: Principal = { keyId: 'cli', client: 'operator', scopes: ['admin'] };

/** Where a command line tool writes: its results, and its messages to the operator. */
export type Output = { out: (text: string) => void; err: (text: string) => void };

/** Runs a command line tool as the process's main module, with its exit code. */
export async function runAsMain(
  run: (argv: string[], env: NodeJS.ProcessEnv, output: Output) => Promise<number>,
): Promise<void> {
  const write = (stream: NodeJS.WriteStream) => (text: string) => stream.write(text);
  process.exitCode = await run(process.argv.slice(2), process.env, {
    out: write(process.stdout),
    err: write(process.stderr),
  });
}
