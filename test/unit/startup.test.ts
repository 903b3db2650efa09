import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { DataDirBusyError } from '../../src/db/data-dir-lock.js';
import { unavailable } from '../../src/shared/errors.js';
import { startupProblem } from '../../src/startup.js';

const errno = (code: string, address: string, port: number) =>
  Object.assign(new Error(`connect ${code} ${address}:${port}`), { code, address, port });
const sqlState = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('what a process that cannot start says', () => {
  it.each([
    [
      new ConfigError('invalid environment variable PORT: Expected integer'),
      'invalid environment variable PORT',
    ],
    [new DataDirBusyError('the embedded database in /d is already open'), 'is already open'],
    [
      unavailable(errno('ECONNREFUSED', '127.0.0.1', 5432)),
      'cannot be reached (ECONNREFUSED 127.0.0.1:5432)',
    ],
    [
      unavailable(
        new AggregateError([errno('ECONNREFUSED', '::1', 5432), errno('ECONNREFUSED', '127.0.0.1', 5432)]),
      ),
      'cannot be reached (ECONNREFUSED ::1:5432; ECONNREFUSED 127.0.0.1:5432)',
    ],
    [
      unavailable(new Error('timeout exceeded when trying to connect')),
      'cannot be reached (timeout exceeded',
    ],
    [unavailable(sqlState('28P01', 'password authentication failed')), 'cannot be reached (password'],
    [unavailable(sqlState('3D000', 'database "x" does not exist')), 'cannot be reached (database "x"'],
    [unavailable(sqlState('57P03', 'the database system is starting up')), 'cannot be reached (the database'],
  ])('when it fails with %s, then one line: %s', (error, line) => {
    expect(startupProblem(error)).toContain(line);
  });

  it.each([
    // The database answered: a migration that runs too long, or a defect, keeps its stack.
    unavailable(sqlState('57014', 'canceling statement due to statement timeout')),
    unavailable(new Error('Query read timeout')),
    new Error('relation "x" does not exist'),
  ])('when it fails with %s, then it is not called unreachable: the stack is kept', (error) => {
    expect(startupProblem(error)).toBeUndefined();
  });
});
