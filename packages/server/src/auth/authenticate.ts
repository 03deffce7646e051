import type { FastifyRequest } from 'fastify'
import { forbidden, unauthorized } from '../http/errors.js'
import type { ServerContext } from '../context.js'
import { hashToken } from './secrets.js'
import { principalOf, type Principal, type UserRow } from './principal.js'

export const SESSION_COOKIE = 'metabase.SESSION'

/** Resolves the caller from X-Api-Key, X-Metabase-Session or the session cookie. */
export async function authenticate(ctx: ServerContext, req: FastifyRequest): Promise<Principal | undefined> {
  const store = ctx.store
  const apiKey = header(req, 'x-api-key')
  if (apiKey) {
    const hash = hashToken(apiKey)
    const key = await ctx.metadata.get(`key:${hash}`, async () => (await store.query<{ id: number }>('select id from api_keys where key_hash = $1', [hash])).rows[0])
    // A wrong key is an error, not anonymous access: the caller clearly meant to authenticate.
    if (!key) throw unauthorized('Invalid API key.')
    return { kind: 'api-key', apiKeyId: key.id, isAdmin: true, attributes: {} }
  }
  const token = header(req, 'x-metabase-session') ?? req.cookies?.[SESSION_COOKIE]
  if (!token) return undefined
  const hash = hashToken(token)
  const user = await ctx.metadata.get(`session:${hash}`, async () =>
    (await store.query<UserRow>('select u.* from sessions s join users u on u.id = s.user_id where s.token_hash = $1 and u.is_active', [hash])).rows[0],
  )
  if (!user) throw unauthorized('Invalid or expired session.')
  return principalOf(user)
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v[0] : v || undefined
}

export function requireUser(req: FastifyRequest): Principal {
  if (!req.principal) throw unauthorized()
  return req.principal
}

export function requireAdmin(req: FastifyRequest): Principal {
  const p = requireUser(req)
  if (!p.isAdmin) throw forbidden()
  return p
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal
  }
}
