/** Polling and pausing for tests that watch something asynchronous (a daemon, a socket, a debounce) happen. */
import assert from 'node:assert/strict';

/** Polls `fn` every 10 ms until it returns something truthy, and returns that; fails the test after `timeoutMs`. */
export async function waitFor<T>(fn: () => T, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v as NonNullable<T>;
    assert.ok(Date.now() < deadline, `timed out waiting for ${fn}`);
    await new Promise((res) => setTimeout(res, 10));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
