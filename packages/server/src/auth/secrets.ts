import * as crypto from 'node:crypto'
import { createHash, randomBytes, randomUUID, scrypt, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>

/** Passwords: scrypt with a random salt, stored as `scrypt$<salt>$<hash>` (base64). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const hash = await scryptAsync(password, salt, 32)
  return `scrypt$${salt.toString('base64')}$${hash.toString('base64')}`
}

export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const [scheme, salt, hash] = (stored ?? '').split('$')
  if (scheme !== 'scrypt' || !salt || !hash) return false
  const expected = Buffer.from(hash, 'base64')
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64'), expected.length)
  return timingSafeEqual(actual, expected)
}

/**
 * Session tokens and API keys are high-entropy random strings, so a fast hash is enough to
 * store them: a leaked store does not reveal a usable token.
 */
export function hashToken(token: string): string {
  return oneShotHash ? oneShotHash('sha256', token, 'hex') : createHash('sha256').update(token).digest('hex')
}

// crypto.hash (Node >= 20.12) skips building a Hash object: it runs on every authenticated request.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash

export function newSessionToken(): string {
  return randomUUID()
}

/** Metabase-shaped API keys: `mb_` and 32 random bytes in base64. */
export function newApiKey(): { key: string; masked: string } {
  const key = `mb_${randomBytes(32).toString('base64')}`
  return { key, masked: `mb_${key.slice(3, 7)}****` }
}
