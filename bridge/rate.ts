/**
 * A token bucket: `burst` submissions at once, refilled at `rate` per second. The local daemon gives
 * each connection its own; the team front shares one per user across that user's connections.
 */
export class RateBucket {
  private tokens: number;
  private lastRefill = Date.now();

  constructor(private readonly rate: number, private readonly burst: number) {
    this.tokens = burst;
  }

  /** Takes one token; false when the bucket is empty (the caller refuses with `rate-limited`). */
  take(now = Date.now()): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.rate);
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
