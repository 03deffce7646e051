import type { FastifyInstance, FastifyReply } from 'fastify'
import { errors as joseErrors, jwtVerify } from 'jose'
import { SESSION_COOKIE, sessionToken } from '../auth/authenticate.js'
import type { UserRow } from '../auth/principal.js'
import { hashPassword, hashToken, newSessionToken, verifyPassword } from '../auth/secrets.js'
import type { ServerContext } from '../context.js'
import { forbidden, HttpError, unauthorized } from '../http/errors.js'
import type { StoreDb } from '../store/store.js'

const userSchema = {
  type: 'object',
  required: ['email', 'password'],
  properties: {
    email: { type: 'string', format: 'email' },
    password: { type: 'string', minLength: 8 },
    first_name: { type: ['string', 'null'] },
    last_name: { type: ['string', 'null'] },
  },
} as const

/** Call inside a transaction: the session row and last_login go in together or not at all. */
async function startSession(ctx: ServerContext, tx: StoreDb, reply: FastifyReply, userId: number): Promise<{ id: string }> {
  const token = newSessionToken()
  await tx.query('insert into sessions (token_hash, user_id) values ($1, $2)', [hashToken(token), userId])
  await tx.query('update users set last_login = now() where id = $1', [userId])
  reply.setCookie(SESSION_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'lax', maxAge: ctx.sessionMaxAgeMinutes * 60 })
  return { id: token }
}

/** Metabase refuses SSO tokens issued more than three minutes ago (buddy's `:max-age 180`). */
export const SSO_MAX_TOKEN_AGE_SECONDS = 180
/** Clock skew tolerated between the identity provider and this server. */
const SSO_CLOCK_SKEW_SECONDS = 30

/**
 * Whether `target` is a path on this site, and so safe to redirect to after sign-on. Refuses
 * what browsers read as another origin: `//host`, `/\host` (backslash is a slash to them),
 * schemes, and control characters (stripped by browsers, so `/\t/host` is `//host`).
 *
 * @example
 * ```ts
 * isSameSitePath('/question/1') // true
 * isSameSitePath('/\\evil.example') // false
 * ```
 */
export function isSameSitePath(target: string): boolean {
  // Judged decoded too: a later hop (a proxy, the app's own router) may decode `%5C` or `%2F`.
  let decoded = target
  try {
    decoded = decodeURIComponent(target)
  } catch {
    return false
  }
  return sameSite(target) && sameSite(decoded)
}

function sameSite(target: string): boolean {
  if (!target.startsWith('/') || target.startsWith('//')) return false
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f\u007f]/.test(target)) return false
  try {
    const base = 'http://switchyard.invalid'
    return new URL(target, base).origin === base
  } catch {
    return false
  }
}

/**
 * A scrypt hash of a random password nobody knows, with the same parameters as real ones, so
 * verifying against it costs what verifying a real password costs (see POST /api/session).
 */
const DUMMY_PASSWORD_HASH = 'scrypt$+mhtuxyJ9rMfL5utJTLSbA==$30Cl02SLUPt3OhH63LyOUn8hekXEWQIpLd9xGyhzd5Y='

/** Claims that describe the token or the user's identity; every other claim becomes a login attribute. */
const RESERVED_CLAIMS = new Set(['email', 'first_name', 'last_name', 'iat', 'exp', 'nbf', 'iss', 'aud', 'sub', 'jti', 'groups'])

export function authRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/api/setup', {
    config: { access: 'public' },
    schema: {
      body: {
        type: 'object',
        required: ['user'],
        properties: { token: { type: ['string', 'null'] }, user: userSchema, prefs: { type: 'object', properties: { site_name: { type: 'string' } } } },
      },
    },
  }, async (req, reply) => {
    const body = req.body as { user: { email: string; password: string; first_name?: string; last_name?: string }; prefs?: { site_name?: string } }
    const passwordHash = await hashPassword(body.user.password)
    return ctx.store.transaction(async (tx) => {
      // Serialises concurrent setup calls: only the first can create the admin.
      await tx.query('select pg_advisory_xact_lock(7340002)')
      const { rows } = await tx.query<{ n: number }>('select count(*)::int as n from users')
      if ((rows[0]?.n ?? 0) > 0) throw forbidden('The /api/setup route can only be used to create the first user, however a user currently exists.')
      const { rows: created } = await tx.query<{ id: number }>(
        'insert into users (email, first_name, last_name, password_hash, is_superuser) values ($1, $2, $3, $4, true) returning id',
        [body.user.email, body.user.first_name ?? null, body.user.last_name ?? null, passwordHash],
      )
      await tx.query(`insert into settings (key, value) values ('site_name', $1::jsonb) on conflict (key) do update set value = excluded.value`, [JSON.stringify(body.prefs?.site_name ?? 'Switchyard')])
      return startSession(ctx, tx, reply, created[0]!.id)
    })
  })

  app.post('/api/session', {
    config: { access: 'public' },
    schema: { body: { type: 'object', required: ['username', 'password'], properties: { username: { type: 'string' }, password: { type: 'string' } } } },
  }, async (req, reply) => {
    const { username, password } = req.body as { username: string; password: string }
    const { rows } = await ctx.store.query<UserRow>('select * from users where lower(email) = lower($1) and is_active', [username])
    const user = rows[0]
    // The same answer for an unknown email and a wrong password: no account enumeration. The
    // same work too: an unknown email (or an SSO-only user without a password) is checked
    // against a dummy hash, so the response time does not tell which emails have accounts.
    const stored = user?.password_hash ?? null
    const matches = await verifyPassword(password, stored ?? DUMMY_PASSWORD_HASH)
    if (!user || stored === null || !matches) throw new HttpError(401, 'Invalid username or password.')
    return ctx.store.transaction((tx) => startSession(ctx, tx, reply, user.id))
  })

  // Public so that a dead session (expired, already deleted) can still clear its cookie.
  app.delete('/api/session', { config: { access: 'public' }, schema: { querystring: { type: 'object', properties: {} } } }, async (req, reply) => {
    const tokens = [...new Set([sessionToken(req), req.cookies?.[SESSION_COOKIE]].filter((t): t is string => Boolean(t)))]
    if (tokens.length === 0) throw unauthorized()
    await ctx.store.query('delete from sessions where token_hash = any($1::text[])', [tokens.map(hashToken)])
    reply.clearCookie(SESSION_COOKIE, { path: '/' })
    return reply.code(204).send()
  })

  app.get('/auth/sso', {
    config: { access: 'public' },
    schema: { querystring: { type: 'object', required: ['jwt'], properties: { jwt: { type: 'string' }, return_to: { type: 'string' } } } },
  }, async (req, reply) => {
    if (!ctx.jwtSecret) throw new HttpError(400, 'JWT single sign-on is not configured (set SWITCHYARD_JWT_SECRET).')
    const { jwt, return_to } = req.query as { jwt: string; return_to?: string }
    const claims = await verifySsoToken(jwt, ctx.jwtSecret)
    const email = claims.email
    if (typeof email !== 'string' || !email.includes('@')) throw unauthorized('JWT is missing a valid "email" claim.')
    const existing = await ctx.store.query<{ is_active: boolean }>('select is_active from users where lower(email) = lower($1)', [email])
    // Signing on must not revive an account an admin turned off.
    if (existing.rows[0] && !existing.rows[0].is_active) throw unauthorized('User is deactivated.')
    const attributes: Record<string, string> = {}
    for (const [k, v] of Object.entries(claims)) if (!RESERVED_CLAIMS.has(k) && v !== null && v !== undefined) attributes[k] = typeof v === 'string' ? v : JSON.stringify(v)
    const session = await ctx.store.transaction(async (tx) => {
      // Locked so a concurrent change cannot slip between this read and the upsert below.
      const before = await tx.query<{ id: number; same: boolean }>(
        'select id, login_attributes = $2::jsonb as same from users where lower(email) = lower($1) for update',
        [email, JSON.stringify(attributes)],
      )
      const { rows } = await tx.query<{ id: number }>(
        `insert into users (email, first_name, last_name, login_attributes, sso_source) values ($1, $2, $3, $4::jsonb, 'jwt')
         on conflict (lower(email)) do update set first_name = coalesce(excluded.first_name, users.first_name),
           last_name = coalesce(excluded.last_name, users.last_name), login_attributes = excluded.login_attributes, sso_source = 'jwt'
           where users.is_active
         returning id`,
        [email, str(claims.first_name), str(claims.last_name), JSON.stringify(attributes)],
      )
      // Deactivated between the check above and the upsert: the guarded update matched nothing.
      if (!rows[0]) throw unauthorized('User is deactivated.')
      // Linking by email onto an existing user (Metabase's rule, password users included) may
      // change their attributes, and so the database their queries route to. Sessions opened
      // under the old attributes end here, so none silently switches tenant mid-session.
      if (before.rows[0] && !before.rows[0].same) await tx.query('delete from sessions where user_id = $1', [rows[0].id])
      return startSession(ctx, tx, reply, rows[0].id)
    })
    // A GET that writes: the hot path's cached sessions and attributes must not outlive it.
    ctx.metadata.clear()
    // Only same-site paths: an open redirect would hand the session to anyone's page.
    if (return_to && isSameSitePath(return_to)) return reply.redirect(return_to)
    return session
  })
}

/**
 * A sign-on token is good for {@link SSO_MAX_TOKEN_AGE_SECONDS}: one without `exp` or `iat` would
 * be valid forever, and one issued long ago may have leaked. Without `iat` its age is unknown, so
 * its `exp` must then fall within that window: otherwise a leaked token with only a far-off `exp`
 * could be replayed for as long as it says.
 */
function checkTokenAge(payload: { exp?: number; iat?: number }): void {
  if (payload.exp === undefined && payload.iat === undefined) throw unauthorized('JWT must carry an "exp" or "iat" claim: a token without either would never expire.')
  const now = Math.floor(Date.now() / 1000)
  if (payload.iat === undefined) {
    const lifetime = payload.exp! - now
    if (lifetime > SSO_MAX_TOKEN_AGE_SECONDS + SSO_CLOCK_SKEW_SECONDS) {
      throw unauthorized(`JWT token without "iat" must expire within ${SSO_MAX_TOKEN_AGE_SECONDS} seconds; this one expires in ${lifetime} seconds. Add an "iat" claim or a shorter "exp".`)
    }
    return
  }
  const age = now - payload.iat
  if (age > SSO_MAX_TOKEN_AGE_SECONDS + SSO_CLOCK_SKEW_SECONDS) throw unauthorized(`JWT token is too old: it was issued ${age} seconds ago, and tokens are accepted for ${SSO_MAX_TOKEN_AGE_SECONDS} seconds.`)
  if (age < -SSO_CLOCK_SKEW_SECONDS) throw unauthorized('JWT token is issued in the future ("iat" is ahead of this server\'s clock).')
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null
}

async function verifySsoToken(token: string, secret: string): Promise<Record<string, unknown>> {
  try {
    const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), { algorithms: ['HS256'], clockTolerance: SSO_CLOCK_SKEW_SECONDS })
    checkTokenAge(payload)
    return payload as Record<string, unknown>
  } catch (err) {
    if (err instanceof HttpError) throw err
    if (err instanceof joseErrors.JWTExpired) throw unauthorized('JWT token has expired.')
    if (err instanceof joseErrors.JOSEAlgNotAllowed) throw unauthorized('JWT algorithm is not allowed: tokens must be signed with HS256.')
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw unauthorized('JWT signature verification failed.')
    if (err instanceof joseErrors.JWTClaimValidationFailed) throw unauthorized(`JWT claim "${err.claim}" is not valid: ${err.reason}.`)
    throw unauthorized('Malformed JWT.')
  }
}
