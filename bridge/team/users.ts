/**
 * Studio users and their tokens, in Redis. A token is shown once, when it is made (`team user add`);
 * Redis keeps only its sha256 (tokens are 32 random bytes, so a fast hash is enough: there is nothing
 * to guess). Nothing here logs a token.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { TeamKeys } from './contract.ts';

export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

export interface UserRecord {
  name: string;
  /** ms since epoch. */
  created: number;
  /** First 8 hex digits of the token's sha256: tells tokens apart in `user list` without revealing one. */
  tokenId: string;
}

export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function checkUserName(name: string): string {
  if (!USER_NAME.test(name)) throw new UserError(`user name "${name}" is not allowed: 1–32 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  return name;
}

export class UserStore {
  constructor(private readonly redis: Redis, private readonly keys: TeamKeys) {}

  /** Makes a user and returns their new token. `replace` gives an existing user a new token (the old one stops working). */
  async add(name: string, opts: { replace?: boolean } = {}): Promise<string> {
    checkUserName(name);
    const old = await this.get(name);
    if (old && !opts.replace) throw new UserError(`user "${name}" exists; use --replace to give them a new token, or "team user remove ${name}" first`);
    const token = `ipa_${randomBytes(32).toString('base64url')}`;
    const hash = hashToken(token);
    const record: UserRecord = { name, created: Date.now(), tokenId: hash.slice(0, 8) };
    const tx = this.redis.multi();
    if (old) tx.hdel(this.keys.tokens, await this.tokenHashOf(name) ?? '');
    tx.hset(this.keys.users, name, JSON.stringify({ ...record, tokenHash: hash }));
    tx.hset(this.keys.tokens, hash, name);
    await tx.exec();
    return token;
  }

  async remove(name: string): Promise<boolean> {
    const hash = await this.tokenHashOf(name);
    if (hash === undefined) return false;
    await this.redis.multi().hdel(this.keys.users, name).hdel(this.keys.tokens, hash).exec();
    return true;
  }

  async list(): Promise<UserRecord[]> {
    const all = await this.redis.hgetall(this.keys.users);
    return Object.values(all).map((v) => publicRecord(JSON.parse(v) as StoredUser)).sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(name: string): Promise<UserRecord | undefined> {
    const v = await this.redis.hget(this.keys.users, name);
    return v ? publicRecord(JSON.parse(v) as StoredUser) : undefined;
  }

  /** The user a token belongs to, or undefined. */
  async userFor(token: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.tokens, hashToken(token))) ?? undefined;
  }

  private async tokenHashOf(name: string): Promise<string | undefined> {
    const v = await this.redis.hget(this.keys.users, name);
    return v ? (JSON.parse(v) as StoredUser).tokenHash : undefined;
  }
}

interface StoredUser extends UserRecord {
  tokenHash: string;
}

function publicRecord(s: StoredUser): UserRecord {
  return { name: s.name, created: s.created, tokenId: s.tokenId };
}
