/**
 * The job queue shared by all clients. Fair: the next job comes from the client served least recently
 * (so one client's batch of 50 does not starve another's single job); first-in-first-out within a client.
 */

export interface Queued {
  readonly id: string;
  /** Client identity for fairness (hello's client.id, else the connection). */
  readonly owner: string;
}

export class FairQueue<T extends Queued> {
  /** Arrival order. */
  private pending: T[] = [];
  private readonly lastServed = new Map<string, number>();
  private tick = 0;

  get length(): number {
    return this.pending.length;
  }

  push(item: T): void {
    this.pending.push(item);
  }

  /** The next job to run, removed from the queue. */
  shift(): T | undefined {
    const next = this.order()[0];
    if (!next) return undefined;
    this.pending.splice(this.pending.indexOf(next), 1);
    this.lastServed.set(next.owner, ++this.tick);
    if (this.lastServed.size > 4096) this.forgetIdleOwners();
    return next;
  }

  remove(id: string): T | undefined {
    const i = this.pending.findIndex((p) => p.id === id);
    return i < 0 ? undefined : this.pending.splice(i, 1)[0];
  }

  get(id: string): T | undefined {
    return this.pending.find((p) => p.id === id);
  }

  /** 0-based position in running order, or -1 when not queued. */
  position(id: string): number {
    return this.order().findIndex((p) => p.id === id);
  }

  /** Queued jobs in running order. */
  items(): T[] {
    return this.order();
  }

  /** The order jobs will run in if nothing else arrives. */
  order(): T[] {
    const byOwner = new Map<string, T[]>();
    for (const p of this.pending) {
      const l = byOwner.get(p.owner);
      if (l) l.push(p);
      else byOwner.set(p.owner, [p]);
    }
    const served = new Map<string, number>();
    for (const o of byOwner.keys()) served.set(o, this.lastServed.get(o) ?? -1);
    const arrival = new Map(this.pending.map((p, i) => [p, i] as const));
    const out: T[] = [];
    let tick = this.tick;
    while (out.length < this.pending.length) {
      let best: string | undefined;
      for (const [o, l] of byOwner) {
        if (l.length === 0) continue;
        if (best === undefined) { best = o; continue; }
        const d = served.get(o)! - served.get(best)!;
        if (d < 0 || (d === 0 && arrival.get(l[0])! < arrival.get(byOwner.get(best)![0])!)) best = o;
      }
      out.push(byOwner.get(best!)!.shift()!);
      served.set(best!, ++tick);
    }
    return out;
  }

  private forgetIdleOwners(): void {
    const active = new Set(this.pending.map((p) => p.owner));
    for (const o of this.lastServed.keys()) if (!active.has(o)) this.lastServed.delete(o);
  }
}
