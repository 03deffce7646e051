import type { FastifyRequest } from 'fastify'
import { forbidden, HttpError, unauthorized } from '../http/errors.js'
import type { ServerContext } from '../context.js'
import { hashToken } from './secrets.js'
import { principalOf, type Principal, type UserRow } from './principal.js'

export const SESSION_COOKIE = 'metabase.SESSION'

/** Who a route is for. Every route declares one in `config.access`; one hook enforces it. */
export type Access = 'public' | 'user' | 'admin'

export interface Authentication {
  readonly principal?: Principal
  /** Why presented credentials were not accepted (a dead session, a wrong key); undefined when none were presented. */
  readonly failure?: string
}

/**
 * Resolves the caller from X-Api-Key, X-Metabase-Session or the session cookie. Never throws
 * for bad credentials: a stale cookie must not stop anyone from reaching the login route, so
 * the verdict is left to {@link authorize}, which knows what the route needs.
 */
export function authenticate(ctx: ServerContext, req: FastifyRequest): Authentication | Promise<Authentication> {
  const apiKey = header(req, 'x-api-key')
  if (apiKey) {
    const hash = hashToken(apiKey)
    const key = ctx.metadata.peek<{ id: number }>(`key:${hash}`)
    return key ? apiKeyAuthentication(key) : loadApiKey(ctx, hash)
  }
  const token = sessionToken(req)
  if (!token) return {}
  const hash = hashToken(token)
  const user = ctx.metadata.peek<UserRow>(`session:${hash}`)
  // Synchronous on a cache hit: no promise on the path every question run takes.
  return user ? { principal: principalOf(user) } : loadSession(ctx, hash)
}

async function loadApiKey(ctx: ServerContext, hash: string): Promise<Authentication> {
  const key = await ctx.metadata.get(`key:${hash}`, async () => (await ctx.store.query<{ id: number }>('select id from api_keys where key_hash = $1', [hash])).rows[0])
  // A wrong key does not fall back to a session: the caller clearly meant to use the key.
  return key ? apiKeyAuthentication(key) : { failure: 'Invalid API key.' }
}

function apiKeyAuthentication(key: { id: number }): Authentication {
  return { principal: { kind: 'api-key', apiKeyId: key.id, isAdmin: true, attributes: {} } }
}

async function loadSession(ctx: ServerContext, hash: string): Promise<Authentication> {
  const store = ctx.store
  const user = await ctx.metadata.get(`session:${hash}`, async () =>
    (await store.query<UserRow>(
      `select u.* from sessions s join users u on u.id = s.user_id
        where s.token_hash = $1 and u.is_active and s.created_at > now() - make_interval(mins => $2::int)`,
      [hash, ctx.sessionMaxAgeMinutes],
    )).rows[0],
  )
  if (!user) return { failure: 'Invalid or expired session.' }
  return { principal: principalOf(user) }
}

/** The session token a request carries: the header wins over the cookie, as in Metabase. */
export function sessionToken(req: FastifyRequest): string | undefined {
  return header(req, 'x-metabase-session') ?? (req.cookies?.[SESSION_COOKIE] || undefined)
}

/**
 * Decides whether a request may reach its route, before its body is validated: an anonymous
 * caller learns nothing about an admin route's schema. Public routes ignore bad credentials.
 *
 * Fails closed: only the not-found handler (no route matched, so nothing to protect) passes
 * without an access rule. A matched route without one slipped past the registry check (a
 * plugin, a later refactor) and is refused with 500 rather than served to anyone.
 *
 * @example
 * ```ts
 * authorize({ access: undefined, notFound: true }, {}) // passes: the 404 handler answers
 * authorize({ access: undefined, notFound: false }, {}) // throws HttpError 500 'route has no access rule'
 * ```
 */
export function authorize(route: { access: Access | undefined; notFound: boolean }, auth: Authentication): void {
  const { access } = route
  if (access === undefined) {
    if (route.notFound) return
    throw new HttpError(500, 'route has no access rule')
  }
  if (access === 'public') return
  if (!auth.principal) throw unauthorized(auth.failure)
  if (access === 'admin' && !auth.principal.isAdmin) throw forbidden()
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v[0] : v || undefined
}

/** The caller of a route declared `user` or `admin` (the access hook has already let them in). */
export function requireUser(req: FastifyRequest): Principal {
  if (!req.principal) throw unauthorized()
  return req.principal
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal
  }
  interface FastifyContextConfig {
    /** Who may call the route; required on every route (the app refuses to register one without it). */
    access?: Access
  }
}
