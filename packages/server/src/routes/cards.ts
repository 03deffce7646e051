import type { FastifyInstance } from 'fastify'
import { requireUser } from '../auth/authenticate.js'
import type { ServerContext } from '../context.js'
import { badRequest, HttpError, notFound } from '../http/errors.js'
import { ID, idParams } from '../http/schemas.js'
import type { CardParameter, TemplateTag } from '../questions/template.js'
import { runNative } from '../questions/run.js'
import { loadDatabase } from './databases.js'

interface NativeQuery {
  database: number
  type: 'native'
  native: { query: string; 'template-tags'?: Record<string, TemplateTag> }
}

interface CardRow {
  id: number
  name: string
  description: string | null
  database_id: number
  dataset_query: NativeQuery
  display: string
  cache_ttl: number | null
  creator_id: number | null
  created_at: Date
  updated_at: Date
}

const datasetQuery = {
  type: 'object',
  required: ['database', 'type', 'native'],
  properties: {
    database: ID,
    type: { type: 'string', const: 'native' },
    native: {
      type: 'object',
      required: ['query'],
      properties: {
        query: { type: 'string', minLength: 1 },
        'template-tags': { type: 'object', additionalProperties: { type: 'object', required: ['type'], properties: { type: { type: 'string', enum: ['text', 'number', 'date'] } } } },
      },
    },
  },
} as const

const parameters = {
  type: 'array',
  items: { type: 'object', required: ['target'], properties: { type: { type: 'string' }, target: { type: 'array' }, value: {} } },
} as const


function publicCard(c: CardRow): Record<string, unknown> {
  return { ...c, database_id: c.database_id, query_type: 'native' }
}

async function loadCard(ctx: ServerContext, id: number): Promise<CardRow> {
  const card = await ctx.metadata.get(`card:${id}`, async () => (await ctx.store.query<CardRow>('select * from cards where id = $1', [id])).rows[0])
  if (!card) throw notFound('Card')
  return card
}

/** Questions are built on routers (or plain databases), never on a destination. */
async function assertQueryable(ctx: ServerContext, databaseId: number): Promise<void> {
  const db = await loadDatabase(ctx, databaseId).catch((err: unknown) => {
    // Only "no such database" is the caller's mistake; a store failure stays what it is.
    throw err instanceof HttpError && err.statusCode === 404 ? badRequest(`dataset_query.database ${databaseId} does not exist`) : err
  })
  if (db.router_database_id !== null) throw badRequest('Questions cannot be built on a destination database; use its router database.')
}

export function cardRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/api/card', {
    config: { access: 'admin' },
    schema: {
      body: {
        type: 'object',
        required: ['name', 'dataset_query'],
        properties: { name: { type: 'string', minLength: 1 }, description: { type: ['string', 'null'] }, dataset_query: datasetQuery, display: { type: 'string' }, cache_ttl: { type: ['integer', 'null'], minimum: 0 }, visualization_settings: { type: 'object' } },
      },
    },
  }, async (req) => {
    const p = requireUser(req)
    const b = req.body as { name: string; description?: string; dataset_query: NativeQuery; display?: string; cache_ttl?: number | null }
    await assertQueryable(ctx, b.dataset_query.database)
    const { rows } = await ctx.store.query<CardRow>(
      'insert into cards (name, description, database_id, dataset_query, display, cache_ttl, creator_id) values ($1, $2, $3, $4::jsonb, $5, $6, $7) returning *',
      [b.name, b.description ?? null, b.dataset_query.database, JSON.stringify(b.dataset_query), b.display ?? 'table', b.cache_ttl ?? null, p.userId ?? null],
    )
    return publicCard(rows[0]!)
  })

  app.get('/api/card/:id', { config: { access: 'user' }, schema: { params: idParams } }, async (req) => {
    return publicCard(await loadCard(ctx, (req.params as { id: number }).id))
  })

  app.put('/api/card/:id', {
    config: { access: 'admin' },
    schema: { params: idParams, body: { type: 'object', properties: { name: { type: 'string', minLength: 1 }, description: { type: ['string', 'null'] }, dataset_query: datasetQuery, display: { type: 'string' }, cache_ttl: { type: ['integer', 'null'], minimum: 0 } } } },
  }, async (req) => {
    const card = await loadCard(ctx, (req.params as { id: number }).id)
    const b = req.body as Partial<CardRow> & { dataset_query?: NativeQuery }
    if (b.dataset_query) await assertQueryable(ctx, b.dataset_query.database)
    const q = b.dataset_query ?? card.dataset_query
    const { rows } = await ctx.store.query<CardRow>(
      'update cards set name = $1, description = $2, database_id = $3, dataset_query = $4::jsonb, display = $5, cache_ttl = $6, updated_at = now() where id = $7 returning *',
      [b.name ?? card.name, b.description !== undefined ? b.description : card.description, q.database, JSON.stringify(q), b.display ?? card.display, b.cache_ttl !== undefined ? b.cache_ttl : card.cache_ttl, card.id],
    )
    return publicCard(rows[0]!)
  })

  app.delete('/api/card/:id', { config: { access: 'admin' }, schema: { params: idParams } }, async (req, reply) => {
    const card = await loadCard(ctx, (req.params as { id: number }).id)
    await ctx.store.query('delete from cards where id = $1', [card.id])
    return reply.code(204).send()
  })

  app.post('/api/card/:id/query', { config: { access: 'user' }, schema: { params: idParams, body: { type: 'object', nullable: true, properties: { parameters } } } }, async (req, reply) => {
    const who = requireUser(req)
    const card = await loadCard(ctx, (req.params as { id: number }).id)
    const body = (req.body ?? {}) as { parameters?: CardParameter[] }
    const database = await loadDatabase(ctx, card.database_id)
    const result = await runNative(ctx, {
      database,
      query: card.dataset_query.native.query,
      templateTags: card.dataset_query.native['template-tags'] ?? {},
      parameters: body.parameters ?? [],
      cardId: card.id,
      cacheTtl: card.cache_ttl,
      context: 'question',
    }, who)
    // Metabase answers 202 for query runs, with the outcome in `status`.
    return reply.code(202).send(result)
  })

  app.post('/api/dataset', {
    config: { access: 'admin' },
    schema: { body: { ...datasetQuery, properties: { ...datasetQuery.properties, parameters } } },
  }, async (req, reply) => {
    const who = requireUser(req)
    const b = req.body as NativeQuery & { parameters?: CardParameter[] }
    const database = await loadDatabase(ctx, b.database)
    const result = await runNative(ctx, { database, query: b.native.query, templateTags: b.native['template-tags'] ?? {}, parameters: b.parameters ?? [], context: 'ad-hoc' }, who)
    return reply.code(202).send(result)
  })
}
