import { ConfigError } from './config.js';
import { DataDirBusyError } from './db/data-dir-lock.js';
import { AppError } from './shared/errors.js';

/**
 * What an operator should read when a process cannot start, or a command cannot reach its database: one
 * line that names the cause, not a stack. Undefined for anything else: that is a defect, and keeps its stack.
 */
export function startupProblem(error: unknown): string | undefined {
  if (error instanceof ConfigError || error instanceof DataDirBusyError) return error.message;
  if (error instanceof AppError && error.code === 'unavailable' && isUnreachable(error.cause)) {
    return `the database cannot be reached (${describeCause(error.cause)})`;
  }
  return undefined;
}

/**
 * A cause that says the database could not be reached: a socket error, the pool's failure to connect, or
 * PostgreSQL's connection (08),
 * authorization (28), unknown database (3D) and shutdown (57P) classes. A statement timeout, a lock held
 * too long, or anything else comes from a database that answered, and keeps its stack.
 */
function isUnreachable(cause: unknown): boolean {
  if (cause instanceof AggregateError) return cause.errors.length > 0 && cause.errors.every(isUnreachable);
  const code = (cause as { code?: unknown } | undefined)?.code;
  // The pool's own "timeout exceeded when trying to connect", "Connection terminated unexpectedly".
  if (typeof code !== 'string') return cause instanceof Error && /connect/i.test(cause.message);
  // A socket's errno (no SQLSTATE class begins with E).
  if (/^E[A-Z]+$/.test(code)) return true;
  return ['08', '28', '3D', '57P'].some((prefix) => code.startsWith(prefix));
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
