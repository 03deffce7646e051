import type { FastifyInstance } from 'fastify'
import type { ConnectionError } from 'switchyard'
import { requireUser } from '../auth/authenticate.js'
import type { ServerContext } from '../context.js'
import { baseType } from '../databases/base-types.js'
import { engineSpecFor, withStoredSecrets, type ConnectionDetails } from '../databases/connection.js'
import { checkConnection, type DatabaseRow } from '../databases/pools.js'
import { publicDatabase } from '../databases/serialize.js'
import { badRequest, forbidden, HttpError, notFound } from '../http/errors.js'
import { ID, idParams } from '../http/schemas.js'
import { PRIMARY_SENTINELS } from '../routing/resolve.js'
import { isStoreUniqueViolation } from '../store/store-error.js'

export const DUPLICATE_DESTINATION = 'A destination database with that name already exists.'

/** A destination's name is its slug; the sentinels already mean "the router itself". */
export function checkDestinationName(name: string): void {
  if (PRIMARY_SENTINELS.has(name)) throw badRequest(`"${name}" is reserved (it routes to the router database itself) and cannot name a destination database.`)
}
export const detailsSchema = { type: 'object', additionalProperties: true, properties: { host: { type: 'string' }, port: { type: ['integer', 'string'] }, dbname: { type: 'string' }, user: { type: 'string' }, password: { type: ['string', 'null'] }, ssl: { type: 'boolean' } } } as const

export async function loadDatabase(ctx: ServerContext, id: number): Promise<DatabaseRow> {
  const db = await ctx.metadata.get(`db:${id}`, async () => (await ctx.store.query<DatabaseRow>('select * from databases where id = $1', [id])).rows[0])
  if (!db) throw notFound('Database')
  return db
}

/** Tests a connection; a failure is a 400 carrying the engine's own message. */
export async function testConnection(ctx: ServerContext, engine: string, details: ConnectionDetails): Promise<void> {
  // Shape first (engine, host, port, data directory): a clear 400 before any network attempt.
  engineSpecFor(engine, details, ctx.policy)
  try {
    await checkConnection(engine, details, ctx.policy)
  } catch (err) {
    if (err instanceof HttpError) throw err
    const e = err as ConnectionError
    throw badRequest(e.message, { message: e.message, code: e.code })
  }
}

export function databaseRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/api/database', { config: { access: 'user' }, schema: { querystring: { type: 'object', properties: { router_database_id: ID } } } }, async (req) => {
    const p = requireUser(req)
    const { router_database_id } = req.query as { router_database_id?: number }
    if (router_database_id !== undefined) {
      if (!p.isAdmin) throw forbidden()
      const { rows } = await ctx.store.query<DatabaseRow>('select * from databases where router_database_id = $1 order by id', [router_database_id])
      return { data: rows.map((db) => publicDatabase(db, p)), total: rows.length }
    }
    // Destinations are an implementation detail of routing: viewers only ever see the router.
    const { rows } = await ctx.store.query<DatabaseRow>('select * from databases where router_database_id is null order by id')
    return { data: rows.map((db) => publicDatabase(db, p)), total: rows.length }
  })

  app.get('/api/database/:id', { config: { access: 'user' }, schema: { params: idParams } }, async (req) => {
    const p = requireUser(req)
    const db = await loadDatabase(ctx, (req.params as { id: number }).id)
    if (db.router_database_id !== null && !p.isAdmin) throw forbidden()
    return publicDatabase(db, p)
  })

  app.post('/api/database', {
    config: { access: 'admin' },
    schema: { body: { type: 'object', required: ['engine', 'name', 'details'], properties: { engine: { type: 'string' }, name: { type: 'string', minLength: 1 }, details: detailsSchema } } },
  }, async (req) => {
    const p = requireUser(req)
    const { engine, name, details } = req.body as { engine: string; name: string; details: ConnectionDetails }
    await testConnection(ctx, engine, details)
    const { rows } = await ctx.store.query<DatabaseRow>('insert into databases (name, engine, details) values ($1, $2, $3::jsonb) returning *', [name, engine, JSON.stringify(details)])
    return publicDatabase(rows[0]!, p)
  })

  app.put('/api/database/:id', {
    config: { access: 'admin' },
    schema: { params: idParams, body: { type: 'object', properties: { name: { type: 'string', minLength: 1 }, details: detailsSchema, engine: { type: 'string' } } } },
  }, async (req) => {
    const p = requireUser(req)
    const db = await loadDatabase(ctx, (req.params as { id: number }).id)
    const b = req.body as { name?: string; details?: ConnectionDetails; engine?: string }
    if (b.engine !== undefined && b.engine !== db.engine) throw badRequest('The engine of a database cannot be changed; add a new database instead.')
    if (b.name !== undefined && db.router_database_id !== null) checkDestinationName(b.name)
    let details = db.details
    if (b.details) {
      // A client editing other fields sends no secrets back (it never received them): keep the stored ones.
      details = withStoredSecrets(b.details, db.details)
      await testConnection(ctx, db.engine, details)
    }
    const { rows } = await ctx.store.query<DatabaseRow>(
      'update databases set name = $1, details = $2::jsonb, updated_at = now() where id = $3 returning *',
      [b.name ?? db.name, JSON.stringify(details), db.id],
    ).catch((err: unknown) => {
      // Only destinations have unique names (their slugs, per router).
      throw isStoreUniqueViolation(err) ? badRequest(DUPLICATE_DESTINATION) : err
    })
    await ctx.pools.evict(db.id)
    return publicDatabase(rows[0]!, p)
  })

  app.delete('/api/database/:id', { config: { access: 'admin' }, schema: { params: idParams } }, async (req, reply) => {
    const db = await loadDatabase(ctx, (req.params as { id: number }).id)
    const { rows: dests } = await ctx.store.query<{ id: number }>('select id from databases where router_database_id = $1', [db.id])
    // Destinations go with their router (ON DELETE CASCADE), in the same statement.
    await ctx.store.query('delete from databases where id = $1', [db.id])
    await Promise.all([db.id, ...dests.map((d) => d.id)].map((id) => ctx.pools.evict(id)))
    return reply.code(204).send()
  })

  app.post('/api/database/:id/sync_schema', { config: { access: 'admin' }, schema: { params: idParams, body: { type: ['object', 'null'] } } }, async (req) => {
    const db = await loadDatabase(ctx, (req.params as { id: number }).id)
    const tables = await ctx.pools.get(db).introspect()
    await ctx.store.transaction(async (tx) => {
      await tx.query('delete from metadata_tables where database_id = $1', [db.id])
      for (const t of tables) {
        const { rows } = await tx.query<{ id: number }>('insert into metadata_tables (database_id, schema, name) values ($1, $2, $3) returning id', [db.id, t.schema, t.name])
        for (const c of t.columns) {
          await tx.query(
            'insert into metadata_fields (table_id, name, base_type, database_type, nullable, position) values ($1, $2, $3, $4, $5, $6)',
            [rows[0]!.id, c.name, baseType(c.type), c.type, c.nullable, c.position],
          )
        }
      }
    })
    return { status: 'ok', tables: tables.length }
  })

  app.get('/api/database/:id/metadata', { config: { access: 'user' }, schema: { params: idParams } }, async (req) => {
    const p = requireUser(req)
    const db = await loadDatabase(ctx, (req.params as { id: number }).id)
    if (db.router_database_id !== null && !p.isAdmin) throw forbidden()
    const { rows } = await ctx.store.query<{ id: number; schema: string; name: string; fields: unknown }>(
      `select t.id, t.schema, t.name,
              coalesce(json_agg(json_build_object('name', f.name, 'base_type', f.base_type, 'database_type', f.database_type, 'nullable', f.nullable, 'position', f.position)
                       order by f.position) filter (where f.id is not null), '[]') as fields
         from metadata_tables t left join metadata_fields f on f.table_id = t.id
        where t.database_id = $1 group by t.id order by t.schema, t.name`,
      [db.id],
    )
    return { ...publicDatabase(db, p), tables: rows }
  })
}
