import { randomBytes } from 'node:crypto'
import type pg from 'pg'
import type { RowMode } from '../types.js'
import { throwIfAborted } from '../shared/transaction.js'
import { ensureParser, parsePostgres, parserReady, walk } from '../../sql/parser.js'

/** What pg answers with, rows as objects (the default) or as arrays (`rowMode: 'array'`). */
export type PgResult = pg.QueryResultBase & { readonly rows: unknown[] }

/** pg's callback: an error, or (whenever there is none) the result. */
export type PgDone = (err: Error | undefined, res?: PgResult) => void

/** pg's record of the statements a connection has parsed, by name; not in its types. */
interface ParsedStatements {
  readonly connection?: { readonly parsedStatements?: Record<string, string> }
}

/** The query-config form pg needs for array rows; otherwise text and values go as they are. */
export function arrayQuery(sql: string, params: readonly unknown[]): pg.QueryArrayConfig {
  return { text: sql, values: params as unknown[], rowMode: 'array' }
}

/**
 * One statement a connection has prepared, and the query configs pg is handed for it. pg copies
 * a config's own properties on every call (`Object.getOwnPropertyDescriptors`, measured at
 * 1.5 µs for name, text, values and row mode); the config it gets here has none of its own and
 * inherits them from one object made per statement and row mode, so the copy is next to free
 * (0.1 µs). The values and callback go as pg's other two arguments.
 */
class Statement {
  #rows: pg.QueryConfig | undefined
  #arrays: pg.QueryConfig | undefined

  constructor(
    readonly name: string,
    readonly text: string,
  ) {}

  config(rowMode: RowMode | undefined): pg.QueryConfig {
    const template = rowMode === 'array' ? (this.#arrays ??= arrayTemplate(this.name, this.text)) : (this.#rows ??= { name: this.name, text: this.text })
    return Object.create(template) as pg.QueryConfig
  }
}

function arrayTemplate(name: string, text: string): pg.QueryConfig {
  const config: pg.QueryArrayConfig = { name, text, rowMode: 'array' }
  return config
}

/** What one connection has prepared, and how often it has run the statements it has not (yet). */
interface ClientStatements {
  readonly prepared: Map<string, Statement>
  readonly seen: Map<string, number>
}

/** In `seen`: a statement counted to its third run whose parameters are not all cast: never prepared. */
const NEVER = -1

/**
 * Whether every parameter of `sql` carries a cast (`$1::int`, `cast($1 as date)`). PostgreSQL
 * fixes a prepared statement's parameter types when it is prepared, and re-plans it later with
 * those types: an untyped `$1` compared with a column takes the column's type then, and keeps
 * it after `ALTER COLUMN ... TYPE` (an error from then on, or silently different rows: a `char`
 * column made `text` stops matching padded values) or a changed search path. A cast parameter
 * has its type whatever the schema, so running it prepared or not means the same. Read with
 * PostgreSQL's own parser; until that has loaded, nothing is prepared.
 */
function typedParameters(sql: string): boolean {
  if (!parserReady()) return false
  let params = 0
  let cast = 0
  try {
    walk(parsePostgres(sql), (type, node) => {
      if (type === 'ParamRef') params++
      else if (type === 'TypeCast' && (node.arg as Record<string, unknown> | undefined)?.ParamRef !== undefined) cast++
    })
  } catch {
    return false
  }
  return params > 0 && cast === params
}

/** A statement is prepared on its third run on a connection (pgJDBC's prepareThreshold and Npgsql's auto-prepare count uses too). */
const RUNS_BEFORE_PREPARE = 3

/** The plain path: text and values as they are (pg copies a config object, not a string), a config only for array rows. */
function unprepared(client: pg.ClientBase, sql: string, params: readonly unknown[], rowMode: RowMode | undefined, done: PgDone): void {
  if (rowMode === 'array') client.query(arrayQuery(sql, params), done)
  else client.query(sql, params as unknown[], done)
}

/** pg's `client.query(config, values, callback)`: accepted at run time (it is how values join a config), left out of its types. */
interface QueryWithValues {
  query(config: pg.QueryConfig, values: unknown[], callback: PgDone): void
}

/**
 * Losses of prepared statements a pool takes before it stops preparing: one is somebody's
 * `DISCARD ALL`, repeated ones are a pooler in transaction mode (PgBouncer before 1.21, or
 * without `max_prepared_statements`) handing each transaction to another server connection.
 */
const LOSSES_BEFORE_OFF = 3

/**
 * Prepares a parameterised statement on a connection the third time that connection runs it,
 * and after that runs it by name: PostgreSQL parses and plans it once per connection instead of
 * on every call (a point query on a pooled connection measured 30k against 43k statements/s).
 *
 * - Prepared on the third run, and only if those runs come while the statement is among the
 *   last `capacity` new statements the connection has counted. Statements that do not come
 *   back that often, such as one text per tenant schema over a thousand tenants, are never
 *   prepared: preparing them would only churn the cache. Measured on 1000 tenant schemas
 *   (bench/schema-routing, the engine pool against a bare pg.Pool): 0.76 of its throughput
 *   when every statement was prepared on its first run, 0.88 on its second, 0.99 on its third.
 * - Only statements whose every parameter carries a cast (`$1::int`; see {@link typedParameters}
 *   for why): prepared or not, they mean the same whatever happens to the schema.
 * - Only statements with parameters, outside explicit transactions: a statement without any may
 *   be several (the simple protocol allows that, a prepared statement does not), and one that
 *   needs the retries below cannot be retried inside a transaction it has aborted.
 * - At most `capacity` statements per connection, least recently used evicted a quarter at a
 *   time with one `DEALLOCATE` round trip, so a working set larger than the cache costs one
 *   extra round trip per `capacity / 4` statements, not one each.
 * - A statement whose result columns changed under it (`cached plan must not change result
 *   type`, after `ALTER TABLE` under a `select *`) is deallocated and run again unprepared;
 *   PostgreSQL re-plans by itself for the rest (a new index, a changed search path).
 * - A connection that lost its statements (`prepared statement ... does not exist`, or
 *   `already exists`) runs the statement unprepared and starts over; after
 *   {@link LOSSES_BEFORE_OFF} losses the pool stops preparing: a pooler in transaction mode
 *   is in the way.
 *
 * Both retries are safe because those errors come before the statement executes.
 */
export class StatementCache {
  /** Per connection: its prepared statements (least recently used first) and the runs of the rest. */
  readonly #byClient = new WeakMap<pg.ClientBase, ClientStatements>()
  /**
   * Random per cache: behind a pooler in transaction mode a server connection holds other
   * processes' statements, and a name they also use would bind our parameters to their SQL.
   * With a prefix of its own, a name found missing is all that can happen (and is retried).
   */
  readonly #prefix = `switchyard_${randomBytes(6).toString('hex')}_`
  #next = 0
  #losses = 0

  constructor(readonly capacity: number) {
    // Loaded in the background: statements run unprepared until it is there (see typedParameters).
    void ensureParser().catch(() => {})
  }

  get enabled(): boolean {
    return this.#losses < LOSSES_BEFORE_OFF
  }

  /**
   * `signal`: a caller that may give up. Housekeeping (`DEALLOCATE`) can run first on the
   * connection, and a cancel landing on that instead of the statement must not let the
   * statement run anyway: it is checked again before the statement goes.
   */
  run(client: pg.ClientBase, sql: string, params: readonly unknown[], rowMode: RowMode | undefined, done: PgDone, signal?: AbortSignal): void {
    if (params.length === 0 || !this.enabled) return unprepared(client, sql, params, rowMode, done)
    let mine = this.#byClient.get(client)
    if (mine === undefined) {
      mine = { prepared: new Map(), seen: new Map() }
      this.#byClient.set(client, mine)
    }
    const statements = mine.prepared
    let statement = statements.get(sql)
    let evicting: string | undefined
    if (statement !== undefined) {
      // Map order is insertion order: moving a hit to the end keeps the least recently used first.
      statements.delete(sql)
    } else {
      const counted = mine.seen.get(sql) ?? 0
      const runs = counted === NEVER ? NEVER : counted + 1
      if (runs === NEVER || runs < RUNS_BEFORE_PREPARE || !typedParameters(sql)) {
        // Not (yet): counted, and forgotten once `capacity` newer statements have come (see the class comment).
        if (counted === 0 && mine.seen.size >= this.capacity) mine.seen.delete(mine.seen.keys().next().value!)
        mine.seen.set(sql, runs >= RUNS_BEFORE_PREPARE && parserReady() ? NEVER : runs)
        return unprepared(client, sql, params, rowMode, done)
      }
      mine.seen.delete(sql)
      if (statements.size >= this.capacity) evicting = this.#evict(client, statements)
      // Never reused, so a name pg still remembers (see #unparsed) can never clash.
      statement = new Statement(this.#prefix + (++this.#next).toString(36), sql)
    }
    statements.set(sql, statement)
    const { name } = statement
    const onDone = (err: Error | undefined, res?: PgResult) => {
      if (err === undefined || err === null) return done(undefined, res)
      const { code, routine } = err as { code?: string; routine?: string }
      let first: string
      if (code === '0A000' && routine === 'RevalidateCachedQuery') {
        first = this.#forget(client, statements, [sql])
      } else if ((code === '26000' && routine === 'FetchPreparedStatement') || (code === '42P05' && routine === 'StorePreparedStatement')) {
        this.#losses++
        first = this.#forgetAll(client)
      } else {
        if (typeof code !== 'string') {
          // Raised by pg itself, not the server: a value it cannot send (bind), after which pg
          // closes the statement on the server. Forgotten here too, or its next run would find
          // it gone and count a loss against the pool.
          statements.delete(sql)
          this.#unparsed(client, [name])
        } else if ((client as unknown as ParsedStatements).connection?.parsedStatements?.[name] === undefined) {
          // The server refused to prepare it (an unknown table, say), so it is not there: nothing to deallocate later.
          statements.delete(sql)
        }
        return done(err, res)
      }
      this.#after(client, first, done, signal, () => unprepared(client, sql, params, rowMode, done))
    }
    const config = statement.config(rowMode)
    const pgClient = client as unknown as QueryWithValues
    if (evicting === undefined) return pgClient.query(config, params as unknown[], onDone)
    this.#after(client, evicting, done, signal, (failed) => {
      if (!failed) return pgClient.query(config, params as unknown[], onDone)
      // A name in the batch was already gone (somebody's DEALLOCATE or DISCARD ALL), and the
      // batch stopped there: what this connection holds is no longer known. Start it over.
      this.#losses++
      this.#after(client, this.#forgetAll(client), done, signal, () => unprepared(client, sql, params, rowMode, done))
    })
  }

  /** The least recently used quarter: forgotten here, and the `DEALLOCATE`s that drop them on the server. */
  #evict(client: pg.ClientBase, statements: Map<string, Statement>): string {
    const oldest: string[] = []
    for (const text of statements.keys()) {
      if (oldest.length >= Math.ceil(this.capacity / 4)) break
      oldest.push(text)
    }
    return this.#forget(client, statements, oldest)
  }

  #forget(client: pg.ClientBase, statements: Map<string, Statement>, texts: readonly string[]): string {
    const names: string[] = []
    for (const text of texts) {
      const statement = statements.get(text)
      if (statement === undefined) continue
      statements.delete(text)
      names.push(statement.name)
    }
    this.#unparsed(client, names)
    return names.map((n) => `DEALLOCATE ${n}`).join('; ')
  }

  /**
   * Runs `sql` (housekeeping, one simple-protocol message) and then `next`, never both queued on
   * the client at once (pg 9 drops that queue); `next` learns whether it failed. A broken
   * connection fails `next` too.
   */
  #after(client: pg.ClientBase, sql: string, done: PgDone, signal: AbortSignal | undefined, next: (failed: boolean) => void): void {
    if (sql === '') return next(false)
    client.query(sql, (err: Error | undefined) => {
      try {
        throwIfAborted(signal)
      } catch (aborted) {
        return done(aborted as Error)
      }
      next(Boolean(err))
    })
  }

  /** Whatever is left on the server goes too, so no name pg forgets is one the server still holds. */
  #forgetAll(client: pg.ClientBase): string {
    const mine = this.#byClient.get(client)
    this.#byClient.delete(client)
    if (mine) this.#unparsed(client, [...mine.prepared.values()].map((st) => st.name))
    return 'DEALLOCATE ALL'
  }

  /** pg keeps every name it parsed for the connection's life; forgetting evicted ones bounds that. */
  #unparsed(client: pg.ClientBase, names: readonly string[]): void {
    const parsed = (client as unknown as ParsedStatements).connection?.parsedStatements
    if (parsed) for (const name of names) delete parsed[name]
  }
}
