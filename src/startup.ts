import { ConfigError } from './config.js';
import { DataDirBusyError } from './db/data-dir-lock.js';
import { AppError } from './shared/errors.js';

/**
 * What an operator should read when a process cannot start, or a command cannot reach its database: one
 * line that names the cause, not a stack. Undefined for anything else: that is a defect, and keeps its stack.
 */
export function startupProblem(error: unknown): string | undefined {
  if (error instanceof ConfigError || error instanceof DataDirBusyError) return error.message;
  if (error instanceof AppError && error.code === 'unavailable') {
    return `the database cannot be reached (${describeCause(error.cause)})`;
  }
  return undefined;
}

/** Writes the one line of `startupProblem` and exits 1; anything else is thrown on, with its stack. */
export function exitOnStartupProblem(program: string, error: unknown): never {
  const problem = startupProblem(error);
  if (problem === undefined) throw error;
  process.stderr.write(`${program}: ${problem}\n`);
  process.exit(1);
}

function describeCause(cause: unknown): string {
  // A host with several addresses fails with one error for each.
  if (cause instanceof AggregateError && cause.errors.length > 0) {
    return cause.errors.map(describeCause).join('; ');
  }
  if (cause instanceof Error) {
    const { code, address, port } = cause as NodeJS.ErrnoException & { address?: string; port?: number };
    if (code !== undefined && address !== undefined) return `${code} ${address}${port ? `:${port}` : ''}`;
    return cause.message || cause.name;
  }
  return cause === undefined ? 'no cause given' : String(cause);
}
