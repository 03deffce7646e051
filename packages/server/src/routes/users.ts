import type { FastifyInstance } from 'fastify'
import { requireAdmin, requireUser } from '../auth/authenticate.js'
import { publicUser, type UserRow } from '../auth/principal.js'
import { hashPassword, newApiKey, hashToken } from '../auth/secrets.js'
import type { ServerContext } from '../context.js'
import { badRequest, forbidden, notFound } from '../http/errors.js'

const attributes = { type: 'object', additionalProperties: { type: 'string' } } as const
const userProperties = {
  email: { type: 'string', format: 'email' },
  first_name: { type: ['string', 'null'] },
  last_name: { type: ['string', 'null'] },
  password: { type: 'string', minLength: 8 },
  login_attributes: { ...attributes, nullable: true },
  is_superuser: { type: 'boolean' },
} as const
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } } as const

export function userRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/api/user/current', async (req) => {
    const p = requireUser(req)
    if (p.userId === undefined) return { id: null, is_superuser: true, login_attributes: {}, common_name: 'API key' }
    const { rows } = await ctx.store.query<UserRow>('select * from users where id = $1', [p.userId])
    return publicUser(rows[0]!)
  })

  app.get('/api/user', async (req) => {
    requireAdmin(req)
    const { rows } = await ctx.store.query<UserRow>('select * from users order by id')
    return { data: rows.map(publicUser), total: rows.length }
  })

  app.get('/api/user/:id', { schema: { params: idParams } }, async (req) => {
    const p = requireUser(req)
    const { id } = req.params as { id: number }
    if (!p.isAdmin && p.userId !== id) throw forbidden()
    const { rows } = await ctx.store.query<UserRow>('select * from users where id = $1', [id])
    if (!rows[0]) throw notFound('User')
    return publicUser(rows[0])
  })

  app.post('/api/user', {
    schema: {
      body: {
        type: 'object',
        required: ['email'],
        properties: userProperties,
      },
    },
  }, async (req) => {
    requireAdmin(req)
    const b = req.body as { email: string; first_name?: string; last_name?: string; password?: string; login_attributes?: Record<string, string>; is_superuser?: boolean }
    const exists = await ctx.store.query('select 1 from users where lower(email) = lower($1)', [b.email])
    if (exists.rows.length > 0) throw badRequest('Email address already in use.', { errors: { email: 'Email address already in use.' } })
    const { rows } = await ctx.store.query<UserRow>(
      'insert into users (email, first_name, last_name, password_hash, login_attributes, is_superuser) values ($1, $2, $3, $4, $5::jsonb, $6) returning *',
      [b.email, b.first_name ?? null, b.last_name ?? null, b.password ? await hashPassword(b.password) : null, JSON.stringify(b.login_attributes ?? {}), b.is_superuser ?? false],
    )
    return publicUser(rows[0]!)
  })

  app.put('/api/user/:id', {
    schema: {
      params: idParams,
      body: {
        type: 'object',
        properties: { ...userProperties, is_active: { type: 'boolean' } },
      },
    },
  }, async (req) => {
    const p = requireUser(req)
    const { id } = req.params as { id: number }
    const b = req.body as Record<string, unknown>
    const adminOnly = ['login_attributes', 'is_superuser', 'is_active'].filter((k) => k in b)
    // Attributes decide where a user's queries run: only an admin may change them.
    if (!p.isAdmin && (p.userId !== id || adminOnly.length > 0)) throw forbidden()
    const sets: string[] = []
    const params: unknown[] = []
    const set = (col: string, value: unknown, cast = '') => {
      params.push(value)
      sets.push(`${col} = $${params.length}${cast}`)
    }
    if (b.email !== undefined) set('email', b.email)
    if (b.first_name !== undefined) set('first_name', b.first_name)
    if (b.last_name !== undefined) set('last_name', b.last_name)
    if (b.password !== undefined) set('password_hash', await hashPassword(b.password as string))
    if (b.login_attributes !== undefined) set('login_attributes', JSON.stringify(b.login_attributes ?? {}), '::jsonb')
    if (b.is_superuser !== undefined) set('is_superuser', b.is_superuser)
    if (b.is_active !== undefined) set('is_active', b.is_active)
    if (sets.length === 0) throw badRequest('Nothing to update')
    params.push(id)
    const { rows } = await ctx.store.query<UserRow>(`update users set ${sets.join(', ')} where id = $${params.length} returning *`, params)
    if (!rows[0]) throw notFound('User')
    return publicUser(rows[0])
  })

  app.post('/api/api-key', {
    schema: { body: { type: 'object', required: ['name', 'group_id'], properties: { name: { type: 'string', minLength: 1 }, group_id: { type: 'integer' } } } },
  }, async (req) => {
    const p = requireAdmin(req)
    const { name, group_id } = req.body as { name: string; group_id: number }
    const dup = await ctx.store.query('select 1 from api_keys where name = $1', [name])
    if (dup.rows.length > 0) throw badRequest('An API key with this name already exists.')
    const { key, masked } = newApiKey()
    const { rows } = await ctx.store.query<{ id: number; created_at: Date }>(
      'insert into api_keys (name, key_hash, masked_key, group_id, created_by) values ($1, $2, $3, $4, $5) returning id, created_at',
      [name, hashToken(key), masked, group_id, p.userId ?? null],
    )
    // The key itself is shown here once and never again; the store keeps only its hash.
    return { id: rows[0]!.id, name, group: { id: group_id }, unmasked_key: key, masked_key: masked, created_at: rows[0]!.created_at }
  })

  app.get('/api/api-key', async (req) => {
    requireAdmin(req)
    const { rows } = await ctx.store.query('select id, name, masked_key, group_id, created_at from api_keys order by id')
    return rows
  })
}
