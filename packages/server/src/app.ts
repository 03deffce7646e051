import cookie from '@fastify/cookie'
import swagger from '@fastify/swagger'
import Fastify, { type FastifyInstance } from 'fastify'
import { authenticate } from './auth/authenticate.js'
import { createMemoryCache, createRedisCache, type ResultCache } from './cache/result-cache.js'
import type { ServerContext } from './context.js'
import { DatabasePools } from './databases/pools.js'
import { toHttpError } from './http/errors.js'
import { authRoutes } from './routes/auth.js'
import { cardRoutes } from './routes/cards.js'
import { databaseRoutingRoutes } from './routes/database-routing.js'
import { databaseRoutes } from './routes/databases.js'
import { userRoutes } from './routes/users.js'
import { MetadataStore } from './store/store.js'
import { MetadataCache } from './store/metadata-cache.js'
import { ExecutionLog } from './store/execution-log.js'

/** POSTs that run queries rather than change metadata. */
const READ_ONLY_POSTS = /^\/api\/(card\/\d+\/query|dataset)(\?|$)/

export interface ServerOptions {
  /** Embedded store and embedded databases live here. Default `./.switchyard`; `undefined` store in memory when `inMemory`. */
  readonly dataDir?: string
  /** Keep the embedded metadata store in memory (tests). */
  readonly inMemory?: boolean
  /** PostgreSQL metadata store (overrides the embedded one); default `SWITCHYARD_DATABASE_URL`. */
  readonly databaseUrl?: string
  /** Shared HS256 secret for `GET /auth/sso`; default `SWITCHYARD_JWT_SECRET`. */
  readonly jwtSecret?: string
  /** Allow `pglite` databases (demo, tests, embedded use). Default false. */
  readonly allowEmbedded?: boolean
  /** Shared result cache; default `SWITCHYARD_REDIS_URL`, else in-process memory. */
  readonly redisUrl?: string
  /** pino options or false. Default: info level, JSON lines. */
  readonly logger?: boolean | { level: string }
}

export type SwitchyardServer = FastifyInstance & { switchyard: ServerContext }

/**
 * Builds the HTTP server (not yet listening). Tests drive it with `app.inject`.
 *
 * @example
 * ```ts
 * const app = await buildApp({ inMemory: true, jwtSecret: 'secret' })
 * const res = await app.inject({ method: 'POST', url: '/api/setup', payload: { user: { email: 'a@b.co', password: 'pa55word!' } } })
 * await app.close()
 * ```
 */
export async function buildApp(options: ServerOptions = {}): Promise<SwitchyardServer> {
  const config = Object.freeze({
    dataDir: options.dataDir ?? './.switchyard',
    databaseUrl: options.databaseUrl ?? process.env.SWITCHYARD_DATABASE_URL,
    jwtSecret: options.jwtSecret ?? process.env.SWITCHYARD_JWT_SECRET,
    redisUrl: options.redisUrl ?? process.env.SWITCHYARD_REDIS_URL,
    allowEmbedded: options.allowEmbedded ?? false,
  })
  const store = await MetadataStore.open(config.databaseUrl ? { databaseUrl: config.databaseUrl } : options.inMemory ? {} : { dataDir: `${config.dataDir}/store` })
  const cache: ResultCache = config.redisUrl ? await createRedisCache(config.redisUrl) : createMemoryCache()
  const policy = Object.freeze({ allowEmbedded: config.allowEmbedded, dataDir: config.dataDir })
  const ctx: ServerContext = Object.freeze({
    store,
    pools: new DatabasePools(policy),
    policy,
    cache,
    jwtSecret: config.jwtSecret,
    metadata: new MetadataCache(),
    executions: new ExecutionLog(store),
  })

  const app = Fastify({
    logger: options.logger ?? { level: 'info' },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false, allowUnionTypes: true } },
  }) as unknown as SwitchyardServer
  app.decorate('switchyard', ctx)
  await app.register(cookie)
  await app.register(swagger, {
    openapi: { info: { title: 'Switchyard', description: 'Database routing, schema routing and questions over a Metabase-shaped API', version: '0.1.0' } },
  })

  app.addHook('onRequest', async (req) => {
    req.principal = await authenticate(ctx, req)
  })
  // Any write may change what the hot path caches (a session, a card, a destination): drop it all.
  app.addHook('onSend', async (req, _reply, payload) => {
    if (req.method !== 'GET' && !READ_ONLY_POSTS.test(req.url)) ctx.metadata.clear()
    return payload
  })
  // The one place errors become HTTP responses.
  app.setErrorHandler((err, req, reply) => {
    const { statusCode, body } = toHttpError(err)
    if (statusCode >= 500) req.log.error({ err }, 'request failed')
    void reply.code(statusCode).send(body)
  })
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ message: `No route for ${req.method} ${req.url.split('?')[0]}` })
  })

  authRoutes(app, ctx)
  userRoutes(app, ctx)
  databaseRoutes(app, ctx)
  databaseRoutingRoutes(app, ctx)
  cardRoutes(app, ctx)
  app.get('/api/docs', { schema: { hide: true } }, async () => app.swagger())
  app.get('/api/health', { schema: { hide: true } }, async () => ({ status: 'ok' }))

  app.addHook('onClose', async () => {
    await ctx.executions.flush()
    await ctx.pools.close()
    await cache.close()
    await store.close()
  })
  return app
}
