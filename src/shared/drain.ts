/**
 * Waits until the set of running tasks is empty (tasks may add others meanwhile), or until `ms` have passed
 * (Infinity: however long it takes). Answers whether it emptied. A shutdown uses it to stop waiting for
 * work whose lease will hand it to another instance anyway, before the process's own deadline.
 */
export async function drain(running: ReadonlySet<Promise<unknown>>, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (running.size > 0) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    let timer: NodeJS.Timeout | undefined;
    const expired = Number.isFinite(left)
      ? new Promise<void>((resolve) => {
          timer = setTimeout(resolve, left);
        })
      : new Promise<void>(() => {});
    await Promise.race([Promise.allSettled([...running]), expired]);
    clearTimeout(timer);
  }
  return true;
}
