import { describe, expect, it } from 'vitest';
import { LocalCounters } from '../../src/plugins/rate-limit-store.js';

const MINUTE = 60_000;

function clock(start = 1_000_000) {
  const time = { now: start };
  return { time, now: () => time.now };
}

describe('in-process rate-limit counters', () => {
  it('when a key is hit, then its window counts every hit and says how long it has left', () => {
    const { time, now } = clock();
    const counters = new LocalCounters(10, now);
    expect(counters.hit('k', MINUTE)).toEqual({ count: 1, ttlMs: MINUTE });
    time.now += 15_000;
    expect(counters.hit('k', MINUTE)).toEqual({ count: 2, ttlMs: 45_000 });
    expect(counters.hit('other', MINUTE)).toEqual({ count: 1, ttlMs: MINUTE });
    expect(counters.size).toBe(2);
  });

  it('when the window has passed, then the next hit starts a new one', () => {
    const { time, now } = clock();
    const counters = new LocalCounters(10, now);
    counters.hit('k', MINUTE);
    counters.hit('k', MINUTE);
    time.now += MINUTE;
    expect(counters.hit('k', MINUTE)).toEqual({ count: 1, ttlMs: MINUTE });
  });

  it('when a flood of new keys fills it, then the least recently used go, not a key still in use', () => {
    const counters = new LocalCounters(3, clock().now);
    counters.hit('key:busy', MINUTE);
    for (let address = 0; address < 100; address += 1) {
      counters.hit(`address:${address}`, MINUTE);
      counters.hit('key:busy', MINUTE);
      expect(counters.size).toBeLessThanOrEqual(3);
    }
    // Every hit of the busy key was counted in one window, whatever the flood pushed out.
    expect(counters.hit('key:busy', MINUTE).count).toBe(102);
    expect(counters.hit('address:99', MINUTE).count).toBe(2);
    expect(counters.hit('address:0', MINUTE).count).toBe(1);
  });
});
