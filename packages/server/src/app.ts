import cookie from '@fastify/cookie'
import swagger from '@fastify/swagger'
import Fastify, { type FastifyInstance, type onSendHookHandler, type preValidationHookHandler } from 'fastify'
import { join } from 'node:path'
import { authenticate, authorize, type Authentication } from './auth/authenticate.js'
import { createMemoryCache, createRedisCache, type ResultCache } from './cache/result-cache.js'
import type { ServerContext } from './context.js'
import { DatabasePools } from './databases/pools.js'
import { STORE_DIR } from './databases/connection.js'
import { toHttpError } from './http/errors.js'
import { loggerOptions, type LogOptions } from './http/log.js'
import { refuseNul } from './http/nul-check.js'
import { checkRouteDeclaration, type RouteEntry } from './http/route-registry.js'
import { authRoutes } from './routes/auth.js'
import { cardRoutes } from './routes/cards.js'
import { databaseRoutingRoutes } from './routes/database-routing.js'
import { databaseRoutes } from './routes/databases.js'
import { userRoutes } from './routes/users.js'
import { MetadataStore } from './store/store.js'
import { MetadataCache } from './store/metadata-cache.js'
import { ExecutionLog } from './store/execution-log.js'
import { ConfigurationError } from 'switchyard'

/** Routes that run queries rather than change metadata: their parameters go to the user's database, never into the store. */
const RUN_ROUTES: ReadonlySet<string> = new Set(['/api/card/:id/query', '/api/dataset'])

/** Adds `hook` after a route's own hooks of that kind. */
function withHook<H>(own: H | H[] | undefined, hook: H): H[] {
  return own === undefined ? [hook] : Array.isArray(own) ? [...own, hook] : [own, hook]
}

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
  /** Logging, or false. Default: info level, JSON lines on stdout. Requests are logged without credentials. */
  readonly logger?: boolean | LogOptions
  /** Sessions older than this stop working. Default `SWITCHYARD_SESSION_MAX_AGE_MINUTES`, else `MAX_SESSION_AGE` (Metabase's), else 20160 (14 days). */
  readonly sessionMaxAgeMinutes?: number
  /**
   * Statements each PostgreSQL connection keeps prepared (questions run again and again are
   * parsed and planned once per connection). Default `SWITCHYARD_PG_STATEMENT_CACHE`, else 100;
   * 0 turns it off, for databases behind PgBouncer in transaction mode before 1.21.
   */
  readonly pgStatementCache?: number
}

export type SwitchyardServer = FastifyInstance & {
  switchyard: ServerContext
  /** Every route as registered, with its schema and access: the check that none lacks either. */
  switchyardRoutes: readonly RouteEntry[]
}

/** Metabase's default MAX_SESSION_AGE: 14 days, in minutes. */
const DEFAULT_SESSION_MAX_AGE_MINUTES = 20_160

function sessionMaxAge(option: number | undefined): number {
  const raw = option ?? process.env.SWITCHYARD_SESSION_MAX_AGE_MINUTES ?? process.env.MAX_SESSION_AGE
  if (raw === undefined || raw === '') return DEFAULT_SESSION_MAX_AGE_MINUTES
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1 || n > 2_147_483_647) {
    throw new ConfigurationError(`The session max age must be a whole number of minutes >= 1 (sessionMaxAgeMinutes / SWITCHYARD_SESSION_MAX_AGE_MINUTES), got ${JSON.stringify(raw)}`)
  }
  return n
}

const DEFAULT_PG_STATEMENT_CACHE = 100

function pgStatementCache(option: number | undefined): number {
  const raw = option ?? process.env.SWITCHYARD_PG_STATEMENT_CACHE
  if (raw === undefined || raw === '') return DEFAULT_PG_STATEMENT_CACHE
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0 || n > 100_000) {
    throw new ConfigurationError(`The PostgreSQL statement cache must be a whole number from 0 to 100000 (pgStatementCache / SWITCHYARD_PG_STATEMENT_CACHE), got ${JSON.stringify(raw)}`)
  }
  return n
}

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
    sessionMaxAgeMinutes: sessionMaxAge(options.sessionMaxAgeMinutes),
    pgStatementCache: pgStatementCache(options.pgStatementCache),
  })
  const app = Fastify({
    logger: options.logger === false ? false : loggerOptions(options.logger === true || options.logger === undefined ? {} : options.logger),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false, allowUnionTypes: true } },
  }) as unknown as SwitchyardServer
  const store = await MetadataStore.open(config.databaseUrl ? { databaseUrl: config.databaseUrl, statementCache: config.pgStatementCache } : options.inMemory ? {} : { dataDir: join(config.dataDir, STORE_DIR) })
  let cache: ResultCache
  try {
    cache = config.redisUrl ? await createRedisCache(config.redisUrl) : createMemoryCache()
  } catch (err) {
    await store.close().catch(() => {})
    throw err
  }
  const policy = Object.freeze({ allowEmbedded: config.allowEmbedded, dataDir: config.dataDir, pgStatementCache: config.pgStatementCache })
  const ctx: ServerContext = Object.freeze({
    store,
    pools: new DatabasePools(policy),
    policy,
    cache,
    jwtSecret: config.jwtSecret,
    metadata: new MetadataCache(),
    // A lost execution record is not the caller's problem, but it must not vanish silently.
    executions: new ExecutionLog(store, 100, 500, (err) => app.log.error({ err }, 'could not record query executions')),
    sessionMaxAgeMinutes: config.sessionMaxAgeMinutes,
  })
  const routes: RouteEntry[] = []
  app.decorate('switchyard', ctx)
  app.decorate('switchyardRoutes', routes)
  // A NUL character can be stored neither as text nor in jsonb: refuse it before validation,
  // naming the field, rather than let the store fail without saying which value it was.
  const nulCheck: preValidationHookHandler = (req, _reply, done) => {
    try {
      refuseNul({ body: req.body, query: req.query })
    } catch (err) {
      return done(err as Error)
    }
    done()
  }
  // Any write may change what the hot path caches (a session, a card, a destination): drop it all.
  const clearMetadata: onSendHookHandler = (_req, _reply, payload, done) => {
    ctx.metadata.clear()
    done(null, payload)
  }
  // Refuses, at startup, a route that forgot its schema or its access rule. The two hooks above
  // go on the routes that need them, not on every request: runs (the hot path) take neither.
  app.addHook('onRoute', (route) => {
    routes.push(checkRouteDeclaration(route))
    if (RUN_ROUTES.has(route.url)) return
    route.preValidation = withHook(route.preValidation, nulCheck)
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    if (methods.some((m) => m !== 'GET' && m !== 'HEAD')) route.onSend = withHook(route.onSend, clearMetadata)
  })
  await app.register(cookie)
  await app.register(swagger, {
    openapi: { info: { title: 'Switchyard', description: 'Database routing, schema routing and questions over a Metabase-shaped API', version: '0.1.0' } },
  })

  // Who is asking, and whether they may ask, before the body is even parsed: an anonymous
  // caller never learns an admin route's schema from a validation error.
  // Callback-style hooks: on a cached session the whole path to the handler takes no promise.
  app.addHook('onRequest', (req, _reply, done) => {
    const admit = (auth: Authentication): void => {
      req.principal = auth.principal
      authorize({ access: req.routeOptions.config.access, notFound: req.is404 }, auth)
    }
    let auth: Authentication | Promise<Authentication>
    try {
      auth = authenticate(ctx, req)
      if (!(auth instanceof Promise)) {
        admit(auth)
        return done()
      }
    } catch (err) {
      return done(err as Error)
    }
    auth.then(admit).then(() => done(), done)
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
  const noQuery = { type: 'object', properties: {} } as const
  app.get('/api/docs', { config: { access: 'public' }, schema: { hide: true, querystring: noQuery } }, async () => app.swagger())
  app.get('/api/health', { config: { access: 'public' }, schema: { hide: true, querystring: noQuery } }, async () => ({ status: 'ok' }))

  app.addHook('onClose', async () => {
    await ctx.executions.flush()
    await ctx.pools.close()
    await cache.close()
    await store.close()
  })
  return app
}
