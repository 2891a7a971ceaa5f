/**
 * A worker's spool for result images the front could not take (it is restarting): the job completes
 * at once with the images' hashes, the bytes wait here on the worker's disk, and a background loop hands
 * them to the front when it is back (the front holds the result until they arrive). So a front restart
 * does not hold up the GPUs, and a worker restarted on the same machine sends what an earlier one left.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { HASH } from './blob-store.ts';
import type { FrontClient } from './blob-http.ts';

export class ResultSpool {
  private readonly timer: ReturnType<typeof setInterval>;
  private draining = false;

  constructor(readonly dir: string, private readonly front: FrontClient, private readonly log: Logger) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.timer = setInterval(() => void this.drain(), 1000);
    this.timer.unref();
    void this.drain();
  }

  close(): void {
    clearInterval(this.timer);
  }

  async save(hash: string, bytes: Uint8Array): Promise<void> {
    const tmp = join(this.dir, `.${hash}.${randomBytes(4).toString('hex')}`);
    await fs.writeFile(tmp, bytes, { mode: 0o600 });
    await fs.rename(tmp, join(this.dir, hash));
  }

  /** Sends what is spooled; what the front does not take yet stays for the next round. */
  async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      const names = (await fs.readdir(this.dir)).filter((n) => HASH.test(n));
      for (const n of names) {
        const p = join(this.dir, n);
        let bytes: Buffer;
        try {
          bytes = await fs.readFile(p);
        } catch {
          continue; // another worker on this machine sent it
        }
        try {
          await this.front.putResult(n, bytes, undefined, 0);
        } catch {
          return; // still away: next round
        }
        await fs.rm(p, { force: true });
        this.log.info(`spooled result ${n.slice(0, 12)}… handed to the front`);
      }
    } finally {
      this.draining = false;
    }
  }
}
