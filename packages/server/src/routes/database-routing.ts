import type { FastifyInstance } from 'fastify'
import { requireUser } from '../auth/authenticate.js'
import type { ServerContext } from '../context.js'
import { engineSpecFor, type ConnectionDetails } from '../databases/connection.js'
import type { DatabaseRow } from '../databases/pools.js'
import { publicDatabase } from '../databases/serialize.js'
import { badRequest, HttpError, notFound } from '../http/errors.js'
import { ID, idParams } from '../http/schemas.js'
import { isStoreUniqueViolation } from '../store/store-error.js'
import { checkDestinationName, detailsSchema, DUPLICATE_DESTINATION as DUPLICATE, loadDatabase } from './databases.js'
import { checkConnection } from '../databases/pools.js'
import type { Principal } from '../auth/principal.js'

interface DestinationInput {
  name: string
  engine: string
  details: ConnectionDetails
  [other: string]: unknown
}

const destinationList = {
  type: 'array',
  minItems: 1,
  items: {
    type: 'object',
    required: ['name', 'engine', 'details'],
    additionalProperties: true,
    properties: { name: { type: 'string', minLength: 1 }, engine: { type: 'string' }, details: detailsSchema },
  },
} as const

function notRouter(id: number): string {
  return `Database ${id} is not a router database: turn database routing on first (PUT /api/ee/database-routing/router-database/${id} with a user_attribute).`
}

/**
 * Adds destinations to a router, all or nothing: names are checked against the router's
 * existing destinations and each other, connections are tested (when asked) before any
 * row is written, and the rows go in one transaction.
 */
async function addDestinations(ctx: ServerContext, who: Principal, routerId: number, items: readonly DestinationInput[], check: boolean): Promise<Record<string, unknown>[]> {
  const router = await loadDatabase(ctx, routerId)
  if (router.router_database_id !== null) throw badRequest('A destination database cannot have destinations of its own.')
  // As Metabase: destinations hang off a router, and a database is one only while routing is on.
  if (router.router_user_attribute === null) throw badRequest(notRouter(router.id))
  const names = new Set<string>()
  for (const d of items) {
    checkDestinationName(d.name)
    if (d.engine !== router.engine) throw badRequest(`Destination "${d.name}" uses engine ${d.engine}, but its router database uses ${router.engine}: they must match.`)
    if (names.has(d.name)) throw badRequest(DUPLICATE)
    names.add(d.name)
  }
  const { rows: taken } = await ctx.store.query<{ name: string }>('select name from databases where router_database_id = $1 and name = any($2::text[])', [router.id, [...names]])
  if (taken.length > 0) throw badRequest(DUPLICATE)
  // The details' shape is checked even when the connection is not: a destination that cannot
  // even be configured would only fail later, for a viewer, at run time.
  const invalid: Record<string, { message: string }> = {}
  for (const d of items) {
    try {
      engineSpecFor(d.engine, d.details, ctx.policy)
    } catch (err) {
      if (!(err instanceof HttpError)) throw err
      invalid[d.name] = { message: err.message }
    }
  }
  if (Object.keys(invalid).length > 0) throw new HttpError(400, 'Invalid destination database details.', invalid)
  if (check) {
    const failures: Record<string, { message: string }> = {}
    await Promise.all(
      items.map(async (d) => {
        try {
          await checkConnection(d.engine, d.details, ctx.policy)
        } catch (err) {
          failures[d.name] = { message: (err as Error).message }
        }
      }),
    )
    if (Object.keys(failures).length > 0) throw new HttpError(400, 'Could not connect to destination databases.', failures)
  }
  const created = await ctx.store.transaction(async (tx) => {
    // Routing turned off (or the router deleted) since the check above: nothing is saved.
    const { rows: still } = await tx.query<{ on: boolean }>('select router_user_attribute is not null as on from databases where id = $1 for share', [router.id])
    if (still[0]?.on !== true) throw badRequest(notRouter(router.id))
    // Two concurrent requests can both pass the name check; the unique index decides, all or nothing.
    const out: DatabaseRow[] = []
    for (const d of items) {
      const { rows } = await tx.query<DatabaseRow>(
        'insert into databases (name, engine, details, router_database_id) values ($1, $2, $3::jsonb, $4) returning *',
        [d.name, d.engine, JSON.stringify(d.details), router.id],
      )
      out.push(rows[0]!)
    }
    return out
  }).catch((err: unknown) => {
    throw isStoreUniqueViolation(err) ? badRequest(DUPLICATE) : err
  })
  return created.map((db) => publicDatabase(db, who))
}

const checkQuery = { type: 'object', properties: { check_connection_details: { type: 'boolean' } } } as const

export function databaseRoutingRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.put('/api/ee/database-routing/router-database/:id', {
    config: { access: 'admin' },
    schema: {
      params: idParams,
      body: { type: 'object', required: ['user_attribute'], properties: { user_attribute: { type: ['string', 'null'], minLength: 1 } } },
    },
  }, async (req) => {
    const p = requireUser(req)
    const { id } = req.params as { id: number }
    const { user_attribute } = req.body as { user_attribute: string | null }
    const { rows } = await ctx.store.query<DatabaseRow>('select * from databases where id = $1', [id])
    const db = rows[0]
    if (!db) throw notFound('Database')
    if (db.router_database_id !== null) throw badRequest('Cannot make a destination database a router database')
    // null turns routing off; the destinations stay, ready for it to be turned on again.
    const { rows: updated } = await ctx.store.query<DatabaseRow>('update databases set router_user_attribute = $1, updated_at = now() where id = $2 returning *', [user_attribute, id])
    return publicDatabase(updated[0]!, p)
  })

  app.post('/api/ee/database-routing/mirror-database', {
    config: { access: 'admin' },
    schema: { querystring: checkQuery, body: { type: 'object', required: ['router_database_id', 'mirrors'], properties: { router_database_id: ID, mirrors: destinationList } } },
  }, async (req) => {
    const p = requireUser(req)
    const { router_database_id, mirrors } = req.body as { router_database_id: number; mirrors: DestinationInput[] }
    return addDestinations(ctx, p, router_database_id, mirrors, (req.query as { check_connection_details?: boolean }).check_connection_details === true)
  })

  app.post('/api/ee/database-routing/destination-database', {
    config: { access: 'admin' },
    schema: { querystring: checkQuery, body: { type: 'object', required: ['router_database_id', 'destinations'], properties: { router_database_id: ID, destinations: destinationList } } },
  }, async (req) => {
    const p = requireUser(req)
    const { router_database_id, destinations } = req.body as { router_database_id: number; destinations: DestinationInput[] }
    return addDestinations(ctx, p, router_database_id, destinations, (req.query as { check_connection_details?: boolean }).check_connection_details === true)
  })
}
