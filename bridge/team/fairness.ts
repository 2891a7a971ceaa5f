/**
 * Round-robin across users on one BullMQ queue, with BullMQ's own priorities (open-source BullMQ has no
 * per-group rotation). Start-time fair queueing: a job's tag is max(v, the user's last tag + 1), where v is
 * the tag of the job at the head of the queue (or, with nothing waiting, one more than the highest tag a
 * worker started). BullMQ runs the lowest priority number first and, among equal ones, the earliest added.
 * So three users who each queue 20 jobs at once run 1-2-3-1-2-3…, and a newcomer's single job gets the
 * head's tag: at most one job of each other user runs before it, however many they have waiting. Workers
 * pull in that order from any machine, so the order (and the position the front reports) is global
 * across workers. The state is one number per user plus one for the workers, in one Redis hash, changed
 * only by Lua scripts (atomic), so a restarted front continues where the old one stopped.
 */
import type { Redis } from 'ioredis';

/** BullMQ's highest priority value (2^21 − 1). */
export const MAX_TAG = 2 ** 21 - 1;
/** Past this the tags start again from 1 the next time nothing is waiting (long before MAX_TAG). */
const REBASE_AT = 2 ** 20;

const ASSIGN = `
local v = tonumber(ARGV[3])
if v < 0 then v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0') + 1 end
local last = tonumber(redis.call('HGET', KEYS[1], 'u:' .. ARGV[1]) or '0')
local tag = math.max(v, last + 1)
if tag > tonumber(ARGV[2]) then tag = tonumber(ARGV[2]) end
redis.call('HSET', KEYS[1], 'u:' .. ARGV[1], tag)
return tag`;

const STARTED = `
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
local tag = tonumber(ARGV[1])
if tag > v then redis.call('HSET', KEYS[1], 'v', tag) end
return 0`;

export class FairTags {
  constructor(private readonly redis: Redis, private readonly key: string) {}

  /**
   * The BullMQ priority for `user`'s next job. `head` is the priority of the first waiting job (undefined
   * when none waits). Tags start again from 1, once they have grown large, at a moment nothing waits.
   */
  async assign(user: string, head: () => Promise<number | undefined>): Promise<number> {
    let first = await head();
    if (first === undefined && Number((await this.redis.hget(this.key, 'v')) ?? 0) > REBASE_AT) {
      await this.redis.del(this.key);
      first = await head(); // something may have arrived meanwhile
    }
    return Number(await this.redis.eval(ASSIGN, 1, this.key, user, String(MAX_TAG), String(first ?? -1)));
  }

  /** A worker started a job with this tag: V moves up to it. */
  async started(tag: number): Promise<void> {
    await this.redis.eval(STARTED, 1, this.key, String(tag));
  }
}
