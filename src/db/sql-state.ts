/** The SQLSTATE of an error PostgreSQL answered with; undefined for anything else (a socket, a driver timeout). */
export function sqlStateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
