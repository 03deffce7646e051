import { ConnectionError, PoolClosedError, PoolExhaustedError, type EnginePool } from 'switchyard'
import type { Principal } from '../auth/principal.js'
import { resultCacheKey, type CachedResult } from '../cache/result-cache.js'
import type { ServerContext } from '../context.js'
import { baseType } from '../databases/base-types.js'
import { fingerprintOf, type DatabaseRow } from '../databases/pools.js'
import { forbidden, HttpError } from '../http/errors.js'
import { resolveTarget } from '../routing/resolve.js'
import { compileNativeQuery, type CardParameter, type TemplateTag } from './template.js'

export interface NativeRun {
  readonly database: DatabaseRow
  readonly query: string
  readonly templateTags: Readonly<Record<string, TemplateTag>>
  readonly parameters: readonly CardParameter[]
  readonly cardId?: number
  readonly cacheTtl?: number | null
  readonly context: 'question' | 'ad-hoc'
}

export interface RunResponse extends Record<string, unknown> {
  status: 'completed' | 'failed'
}

/**
 * Runs a native query for `who`: routes it (a refusal runs nothing anywhere), binds its
 * parameters, serves or fills the result cache keyed by the database that serves it, and
 * records the run. Every outcome is recorded — a refusal, a bad parameter, a destination
 * that cannot be opened, a failed query — with the database it was meant for when known.
 */
export async function runNative(ctx: ServerContext, run: NativeRun, who: Principal): Promise<RunResponse> {
  const startedAt = new Date().toISOString()
  const started = performance.now()
  let target: DatabaseRow | undefined
  let result: CachedResult | undefined
  let cacheHit = false
  let failure: string | undefined
  let unavailable: HttpError | undefined
  const record = () =>
    ctx.executions.record({
      startedAt,
      userId: who.userId ?? null,
      apiKeyId: who.apiKeyId ?? null,
      cardId: run.cardId ?? null,
      routerDatabaseId: run.database.id,
      databaseId: target?.id ?? null,
      runningTime: Math.round(performance.now() - started),
      rowCount: result?.row_count ?? null,
      cacheHit,
      error: failure ?? null,
      context: run.context,
    })
  let prepared: { pool: EnginePool; sql: string; params: readonly unknown[]; key: string | undefined }
  try {
    if (run.database.router_database_id !== null) throw forbidden('A destination database cannot be queried directly; query its router database.')
    target = await resolveTarget(ctx, run.database, who)
    const pool = ctx.pools.get(target)
    const { sql, params } = compileNativeQuery(run.query, run.templateTags, run.parameters, pool.capabilities.placeholders)
    const key = run.cardId !== undefined && run.cacheTtl ? resultCacheKey({ cardId: run.cardId, servedByDatabaseId: target.id, servedByFingerprint: fingerprintOf(target), sql, params }) : undefined
    prepared = { pool, sql, params, key }
  } catch (err) {
    // A refusal is a run too: who asked, for what, and why it went nowhere. The record keeps
    // the reason a 5xx hides from the caller (its cause): the admin reading the log needs it.
    failure = describeFailure(err)
    record()
    throw err
  }
  try {
    result = prepared.key ? await ctx.cache.get(prepared.key) : undefined
    cacheHit = result !== undefined
    if (!result) {
      // Rows as arrays: `select a.id, b.id` keeps both columns, as Metabase shows them.
      const res = await prepared.pool.query<unknown[]>(prepared.sql, prepared.params, ARRAY_ROWS)
      const cols = res.fields.map((f) => ({ name: f.name, display_name: f.name, base_type: baseType(f.type) }))
      result = { cols, rows: res.rows.map(jsonSafeRow), row_count: res.rows.length }
      if (prepared.key && run.cacheTtl) await ctx.cache.set(prepared.key, result, run.cacheTtl)
    }
  } catch (err) {
    failure = (err as Error).message
    unavailable = unavailableError(err, who)
  }
  record()
  if (unavailable) throw unavailable
  const runningTime = Math.round(performance.now() - started)
  // Literals of one shape, no spreads: the serializer's fast path. An undefined card_id is left out of the JSON.
  if (failure !== undefined || !result) {
    return { status: 'failed', error: failure ?? 'Query failed', database_id: run.database.id, started_at: startedAt, running_time: runningTime, card_id: run.cardId, row_count: 0, data: { cols: [], rows: [] } }
  }
  return { status: 'completed', database_id: run.database.id, started_at: startedAt, running_time: runningTime, card_id: run.cardId, row_count: result.row_count, cached: cacheHit, data: { cols: result.cols, rows: result.rows } }
}

/**
 * The serving database could not take the statement (unreachable, refused the login, every
 * connection busy, its pool replaced meanwhile): nothing the question did wrong, so a 503 to
 * retry rather than a failed run. The driver's words name hosts, databases and accounts, which
 * only an administrator may read; the run record keeps them for everyone.
 */
function unavailableError(err: unknown, who: Principal): HttpError | undefined {
  if (!(err instanceof ConnectionError || err instanceof PoolExhaustedError || err instanceof PoolClosedError)) return undefined
  const message =
    err instanceof PoolExhaustedError
      ? 'The database that serves this question is busy: every connection is in use. Try again shortly.'
      : 'The database that serves this question cannot be reached right now. Try again later, or ask an administrator to check its connection.'
  return new HttpError(503, who.isAdmin ? `${message} (${err.message})` : message, undefined, { cause: err })
}

function describeFailure(err: unknown): string {
  const message = (err as Error).message
  const cause = (err as { cause?: unknown }).cause
  return err instanceof HttpError && err.statusCode >= 500 && cause instanceof Error ? `${message} (${cause.message})` : message
}

const ARRAY_ROWS = Object.freeze({ rowMode: 'array' } as const)

function jsonSafeRow(row: unknown[]): unknown[] {
  return row.map(jsonSafe)
}

/** JSON has no bigint; dates go out as ISO strings. */
function jsonSafe(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Date) return v.toISOString()
  return v
}
