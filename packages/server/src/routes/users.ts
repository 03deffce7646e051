import type { FastifyInstance, FastifyRequest } from 'fastify'
import { requireUser, sessionToken } from '../auth/authenticate.js'
import { publicUser, type Principal, type UserRow } from '../auth/principal.js'
import { hashPassword, hashToken, newApiKey, newSessionToken, verifyPassword } from '../auth/secrets.js'
import type { ServerContext } from '../context.js'
import { badRequest, forbidden, notFound } from '../http/errors.js'
import { ID } from '../http/schemas.js'
import { isStoreUniqueViolation } from '../store/store-error.js'
import type { StoreDb } from '../store/store.js'

const attributes = { type: 'object', additionalProperties: { type: 'string' } } as const
const userProperties = {
  email: { type: 'string', format: 'email' },
  first_name: { type: ['string', 'null'] },
  last_name: { type: ['string', 'null'] },
  password: { type: 'string', minLength: 8 },
  login_attributes: { ...attributes, nullable: true },
  is_superuser: { type: 'boolean' },
} as const
const idParams = { type: 'object', required: ['id'], properties: { id: ID } } as const
const noQuery = { type: 'object', properties: {} } as const

const EMAIL_TAKEN = 'Email address already in use.'
const EMAIL_ADMIN_ONLY = 'Only an admin can change the email address of an account.'
const emailTaken = () => badRequest(EMAIL_TAKEN, { message: EMAIL_TAKEN, errors: { email: EMAIL_TAKEN } })

/**
 * A non-admin changing their own password proves they know the current one (Metabase's rule:
 * admins may reset anyone's). A stolen session alone must not be enough to take the account.
 */
async function checkOldPassword(db: StoreDb, who: Principal, userId: number, oldPassword: unknown): Promise<void> {
  if (who.isAdmin) return
  const { rows } = await db.query<{ password_hash: string | null }>('select password_hash from users where id = $1', [userId])
  if (typeof oldPassword !== 'string' || !(await verifyPassword(oldPassword, rows[0]?.password_hash ?? null))) {
    throw badRequest('Invalid password', { message: 'Invalid password', errors: { old_password: 'Invalid password' } })
  }
}

/** A new password ends every session of the user but the one making the change. */
async function endOtherSessions(db: StoreDb, req: FastifyRequest, userId: number): Promise<void> {
  const own = sessionToken(req)
  await db.query('delete from sessions where user_id = $1 and token_hash <> $2', [userId, own ? hashToken(own) : ''])
}

export function userRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/api/user/current', { config: { access: 'user' }, schema: { querystring: noQuery } }, async (req) => {
    const p = requireUser(req)
    if (p.userId === undefined) return { id: null, is_superuser: true, login_attributes: {}, common_name: 'API key' }
    const { rows } = await ctx.store.query<UserRow>('select * from users where id = $1', [p.userId])
    if (!rows[0]) throw notFound('User')
    return publicUser(rows[0])
  })

  app.get('/api/user', {
    config: { access: 'admin' },
    schema: {
      querystring: {
        type: 'object',
        properties: {
          // Metabase's filters: active users by default.
          status: { type: 'string', enum: ['active', 'deactivated', 'all'] },
          include_deactivated: { type: 'boolean' },
        },
      },
    },
  }, async (req) => {
    const q = req.query as { status?: 'active' | 'deactivated' | 'all'; include_deactivated?: boolean }
    const status = q.status ?? (q.include_deactivated ? 'all' : 'active')
    const where = status === 'all' ? '' : status === 'active' ? 'where is_active' : 'where not is_active'
    const { rows } = await ctx.store.query<UserRow>(`select * from users ${where} order by id`)
    return { data: rows.map(publicUser), total: rows.length }
  })

  app.get('/api/user/:id', { config: { access: 'user' }, schema: { params: idParams } }, async (req) => {
    const p = requireUser(req)
    const { id } = req.params as { id: number }
    if (!p.isAdmin && p.userId !== id) throw forbidden()
    const { rows } = await ctx.store.query<UserRow>('select * from users where id = $1', [id])
    if (!rows[0]) throw notFound('User')
    return publicUser(rows[0])
  })

  app.post('/api/user', {
    config: { access: 'admin' },
    schema: { body: { type: 'object', required: ['email'], properties: userProperties } },
  }, async (req) => {
    const b = req.body as { email: string; first_name?: string; last_name?: string; password?: string; login_attributes?: Record<string, string>; is_superuser?: boolean }
    const exists = await ctx.store.query('select 1 from users where lower(email) = lower($1)', [b.email])
    if (exists.rows.length > 0) throw emailTaken()
    const passwordHash = b.password ? await hashPassword(b.password) : null
    const { rows } = await ctx.store.query<UserRow>(
      'insert into users (email, first_name, last_name, password_hash, login_attributes, is_superuser) values ($1, $2, $3, $4, $5::jsonb, $6) returning *',
      [b.email, b.first_name ?? null, b.last_name ?? null, passwordHash, JSON.stringify(b.login_attributes ?? {}), b.is_superuser ?? false],
    ).catch((err: unknown) => {
      // Two requests for one email can both pass the check above; the unique index decides.
      throw isStoreUniqueViolation(err) ? emailTaken() : err
    })
    return publicUser(rows[0]!)
  })

  app.put('/api/user/:id', {
    config: { access: 'user' },
    schema: {
      params: idParams,
      body: { type: 'object', properties: { ...userProperties, is_active: { type: 'boolean' }, old_password: { type: 'string' } } },
    },
  }, async (req) => {
    const p = requireUser(req)
    const { id } = req.params as { id: number }
    const b = req.body as Record<string, unknown>
    const adminOnly = ['login_attributes', 'is_superuser', 'is_active'].filter((k) => k in b)
    // Attributes decide where a user's queries run: only an admin may change them.
    if (!p.isAdmin && (p.userId !== id || adminOnly.length > 0)) throw forbidden()
    // The email is the identity SSO links to: a user who could rename themselves to someone
    // else's address would be merged into that person's account (and tenant) at their next
    // sign-on. Sending one's current address unchanged is fine (clients send the whole user).
    if (!p.isAdmin && typeof b.email === 'string') {
      const { rows } = await ctx.store.query<{ same: boolean }>('select lower(email) = lower($2) as same from users where id = $1', [id, b.email])
      if (!rows[0]?.same) throw forbidden(EMAIL_ADMIN_ONLY)
    }
    const sets: string[] = []
    const params: unknown[] = []
    const set = (col: string, value: unknown, cast = '') => {
      params.push(value)
      sets.push(`${col} = $${params.length}${cast}`)
    }
    if (b.email !== undefined) set('email', b.email)
    if (b.first_name !== undefined) set('first_name', b.first_name)
    if (b.last_name !== undefined) set('last_name', b.last_name)
    if (b.password !== undefined) {
      await checkOldPassword(ctx.store, p, id, b.old_password)
      set('password_hash', await hashPassword(b.password as string))
    }
    if (b.login_attributes !== undefined) set('login_attributes', JSON.stringify(b.login_attributes ?? {}), '::jsonb')
    if (b.is_superuser !== undefined) set('is_superuser', b.is_superuser)
    if (b.is_active !== undefined) set('is_active', b.is_active)
    if (sets.length === 0) throw badRequest('Nothing to update')
    params.push(id)
    const updated = await ctx.store.transaction(async (tx) => {
      const { rows } = await tx.query<UserRow>(`update users set ${sets.join(', ')} where id = $${params.length} returning *`, params)
      if (rows[0] && b.password !== undefined) await endOtherSessions(tx, req, id)
      // A deactivated user's sessions go with the deactivation, or reactivating them would
      // bring back every session they had (including one a thief held).
      if (rows[0] && b.is_active === false) await tx.query('delete from sessions where user_id = $1', [id])
      return rows[0]
    }).catch((err: unknown) => {
      throw isStoreUniqueViolation(err) ? emailTaken() : err
    })
    if (!updated) throw notFound('User')
    return publicUser(updated)
  })

  // Metabase's password endpoint: `{ password, old_password }`; the old one is required unless an admin resets it.
  app.put('/api/user/:id/password', {
    config: { access: 'user' },
    schema: { params: idParams, body: { type: 'object', required: ['password'], properties: { password: { type: 'string', minLength: 8 }, old_password: { type: 'string' } } } },
  }, async (req, reply) => {
    const p = requireUser(req)
    const { id } = req.params as { id: number }
    const { password, old_password } = req.body as { password: string; old_password?: string }
    if (!p.isAdmin && p.userId !== id) throw forbidden()
    await checkOldPassword(ctx.store, p, id, old_password)
    const hash = await hashPassword(password)
    const self = p.userId === id
    const session = await ctx.store.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: number }>('update users set password_hash = $1 where id = $2 returning id', [hash, id])
      if (!rows[0]) throw notFound('User')
      // Every old session ends; the caller changing their own password gets a fresh one (as Metabase does).
      await tx.query('delete from sessions where user_id = $1', [id])
      if (!self) return undefined
      const token = newSessionToken()
      await tx.query('insert into sessions (token_hash, user_id) values ($1, $2)', [hashToken(token), id])
      return token
    })
    if (session === undefined) return reply.code(204).send()
    reply.setCookie('metabase.SESSION', session, { path: '/', httpOnly: true, sameSite: 'lax', maxAge: ctx.sessionMaxAgeMinutes * 60 })
    return { success: true, session_id: session }
  })

  app.post('/api/api-key', {
    config: { access: 'admin' },
    schema: { body: { type: 'object', required: ['name', 'group_id'], properties: { name: { type: 'string', minLength: 1 }, group_id: ID } } },
  }, async (req) => {
    const p = requireUser(req)
    const { name, group_id } = req.body as { name: string; group_id: number }
    const duplicate = () => badRequest('An API key with this name already exists.')
    const dup = await ctx.store.query('select 1 from api_keys where name = $1', [name])
    if (dup.rows.length > 0) throw duplicate()
    const { key, masked } = newApiKey()
    const { rows } = await ctx.store.query<{ id: number; created_at: Date }>(
      'insert into api_keys (name, key_hash, masked_key, group_id, created_by) values ($1, $2, $3, $4, $5) returning id, created_at',
      [name, hashToken(key), masked, group_id, p.userId ?? null],
    ).catch((err: unknown) => {
      throw isStoreUniqueViolation(err) ? duplicate() : err
    })
    // The key itself is shown here once and never again; the store keeps only its hash.
    return { id: rows[0]!.id, name, group: { id: group_id }, unmasked_key: key, masked_key: masked, created_at: rows[0]!.created_at }
  })

  app.get('/api/api-key', { config: { access: 'admin' }, schema: { querystring: noQuery } }, async () => {
    const { rows } = await ctx.store.query('select id, name, masked_key, group_id, created_at from api_keys order by id')
    return rows
  })
}
