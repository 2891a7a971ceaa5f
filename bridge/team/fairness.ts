/**
 * Round-robin across users on one BullMQ queue, with BullMQ's own priorities (open-source BullMQ has no
 * per-group rotation). Start-time fair queueing: each job gets the tag max(V, the user's last tag) + 1,
 * where V is the highest tag a worker has started; BullMQ runs the lowest priority number first and,
 * among equal ones, the earliest added. So three users who each queue 20 jobs at once run 1-2-3-1-2-3…,
 * and one job of a newcomer runs after at most one more job of each user already queued, however many
 * they have waiting. Workers pull in that order from any machine, so the order (and the position the
 * front reports) is global across workers. The state is two numbers per user in one Redis hash, changed
 * only by Lua scripts (atomic), so a restarted front continues where the old one stopped.
 */
import type { Redis } from 'ioredis';

/** BullMQ's highest priority value (2^21 − 1). */
export const MAX_TAG = 2 ** 21 - 1;
/** Past this the tags start again from 1 the next time nothing is waiting (long before MAX_TAG). */
const REBASE_AT = 2 ** 20;

const ASSIGN = `
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'u:' .. ARGV[1]) or '0')
local tag = math.max(v, last) + 1
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
   * The BullMQ priority for `user`'s next job. `waiting` counts queued jobs; it is asked only when the
   * tags have grown large, to start them again from 1 while no job holds an old one.
   */
  async assign(user: string, waiting: () => Promise<number>): Promise<number> {
    const v = Number((await this.redis.hget(this.key, 'v')) ?? 0);
    if (v > REBASE_AT && (await waiting()) === 0) await this.redis.del(this.key);
    return Number(await this.redis.eval(ASSIGN, 1, this.key, user, String(MAX_TAG)));
  }

  /** A worker started a job with this tag: V moves up to it. */
  async started(tag: number): Promise<void> {
    await this.redis.eval(STARTED, 1, this.key, String(tag));
  }
}
