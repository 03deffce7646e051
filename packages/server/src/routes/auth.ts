import type { FastifyInstance, FastifyReply } from 'fastify'
import { errors as joseErrors, jwtVerify } from 'jose'
import { SESSION_COOKIE, requireUser } from '../auth/authenticate.js'
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

async function startSession(db: StoreDb, reply: FastifyReply, userId: number): Promise<{ id: string }> {
  const token = newSessionToken()
  await db.query('insert into sessions (token_hash, user_id) values ($1, $2)', [hashToken(token), userId])
  await db.query('update users set last_login = now() where id = $1', [userId])
  reply.setCookie(SESSION_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'lax' })
  return { id: token }
}

/** Claims that describe the token or the user's identity; every other claim becomes a login attribute. */
const RESERVED_CLAIMS = new Set(['email', 'first_name', 'last_name', 'iat', 'exp', 'nbf', 'iss', 'aud', 'sub', 'jti', 'groups'])

export function authRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/api/setup', {
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
      return startSession(tx, reply, created[0]!.id)
    })
  })

  app.post('/api/session', {
    schema: { body: { type: 'object', required: ['username', 'password'], properties: { username: { type: 'string' }, password: { type: 'string' } } } },
  }, async (req, reply) => {
    const { username, password } = req.body as { username: string; password: string }
    const { rows } = await ctx.store.query<UserRow>('select * from users where lower(email) = lower($1) and is_active', [username])
    const user = rows[0]
    // The same answer for an unknown email and a wrong password: no account enumeration.
    if (!user || !(await verifyPassword(password, user.password_hash))) throw new HttpError(401, 'Invalid username or password.')
    return startSession(ctx.store, reply, user.id)
  })

  app.delete('/api/session', async (req, reply) => {
    requireUser(req)
    const token = (req.headers['x-metabase-session'] as string | undefined) ?? req.cookies?.[SESSION_COOKIE]
    if (token) await ctx.store.query('delete from sessions where token_hash = $1', [hashToken(token)])
    reply.clearCookie(SESSION_COOKIE, { path: '/' })
    return reply.code(204).send()
  })

  app.get('/auth/sso', {
    schema: { querystring: { type: 'object', required: ['jwt'], properties: { jwt: { type: 'string' }, return_to: { type: 'string' } } } },
  }, async (req, reply) => {
    if (!ctx.jwtSecret) throw new HttpError(400, 'JWT single sign-on is not configured (set SWITCHYARD_JWT_SECRET).')
    const { jwt, return_to } = req.query as { jwt: string; return_to?: string }
    const claims = await verifySsoToken(jwt, ctx.jwtSecret)
    const email = claims.email
    if (typeof email !== 'string' || !email.includes('@')) throw unauthorized('JWT is missing a valid "email" claim.')
    const attributes: Record<string, string> = {}
    for (const [k, v] of Object.entries(claims)) if (!RESERVED_CLAIMS.has(k) && v !== null && v !== undefined) attributes[k] = typeof v === 'string' ? v : JSON.stringify(v)
    const session = await ctx.store.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: number }>(
        `insert into users (email, first_name, last_name, login_attributes, sso_source) values ($1, $2, $3, $4::jsonb, 'jwt')
         on conflict (lower(email)) do update set first_name = coalesce(excluded.first_name, users.first_name),
           last_name = coalesce(excluded.last_name, users.last_name), login_attributes = excluded.login_attributes, sso_source = 'jwt'
         returning id`,
        [email, str(claims.first_name), str(claims.last_name), JSON.stringify(attributes)],
      )
      return startSession(tx, reply, rows[0]!.id)
    })
    // Only same-site paths: an open redirect would hand the session to anyone's page.
    if (return_to && return_to.startsWith('/') && !return_to.startsWith('//')) return reply.redirect(return_to)
    return session
  })
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null
}

async function verifySsoToken(token: string, secret: string): Promise<Record<string, unknown>> {
  try {
    const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), { algorithms: ['HS256'] })
    return payload as Record<string, unknown>
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw unauthorized('JWT token has expired.')
    if (err instanceof joseErrors.JOSEAlgNotAllowed) throw unauthorized('JWT algorithm is not allowed: tokens must be signed with HS256.')
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw unauthorized('JWT signature verification failed.')
    if (err instanceof joseErrors.JWTClaimValidationFailed) throw unauthorized(`JWT claim "${err.claim}" is not valid: ${err.reason}.`)
    throw unauthorized('Malformed JWT.')
  }
}
