import type BetterSqlite3 from 'better-sqlite3'
import { existsSync } from 'node:fs'
import { readdir, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { InvalidSchemaNameError, PoolClosedError, QueryError, UnsupportedError } from '../../errors.js'
import type {
  EngineCapabilities,
  EnginePool,
  EngineTransaction,
  PoolStats,
  QueryOptions,
  QueryResult,
  Row,
  RowMode,
  TableInfo,
  TransactionOptions,
} from '../types.js'
import { SavepointTransaction, isolationLevelOf, quoteWith, throwIfAborted } from '../shared/transaction.js'
import { Lru } from '../../util/lru.js'
import { toConnectionError, toQueryError } from './errors.js'
import { SQLITE_HOME_ALIAS } from './home.js'
import { introspectSqlite } from './introspect.js'

export const SQLITE_CAPABILITIES: EngineCapabilities = Object.freeze({
  schemas: false,
  transactionalDdl: true,
  returning: true,
  multipleConnections: false,
  dialect: 'sqlite',
  placeholders: 'question',
  identifierQuote: '"',
  schemaScoping: 'attached',
  // Statements run synchronously on the event loop's thread: a signal can only stop one from starting.
  cancellation: false,
})

/**
 * SQLITE_MAX_ATTACHED as better-sqlite3 compiles it (its deps/defines.gypi leaves SQLite's
 * default). `sqlite3_limit` can only lower it at run time, so more schema files than this
 * are served by attaching on demand.
 */
export const MAX_ATTACHED = 10

type Database = BetterSqlite3.Database

export interface SqlitePoolOptions {
  /** Opens the pool's own connection on `filename`. */
  readonly open: () => Promise<Database>
  /** Opens a plain connection on another file (a schema file, for a schema-scoped transaction). */
  readonly connect: (file: string) => Promise<Database>
  readonly filename: string
  /** Schema files attached at once; the least recently used idle one is detached to make room. */
  readonly maxAttached: number
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/
/** A name written before a dot, quoted or bare: the candidates for a schema qualifier. */
const QUALIFIER = /(?:"((?:[^"]|"")+)"|`([^`]+)`|\[([^\]]+)\]|\b([A-Za-z_][A-Za-z0-9_]*))\s*\.\s*(?=["`[A-Za-z_*])/g
/** How SQLite says a statement names a database that is not attached. */
const MISSING_SCHEMA = [/^no such table: ([^.\s]+)\./, /^unknown database "?([^"\s]+)"?$/]
const SIDE_FILES = ['', '-wal', '-shm', '-journal']
/** A statement that only describes a plan (and cannot itself be EXPLAINed). */
const EXPLAIN = /^\s*explain\b/i

/** SQLite binds numbers, strings, bigints, buffers and null; other values are converted the obvious way. */
function bindable(value: unknown): unknown {
  if (value === undefined) return null
  if (typeof value === 'boolean') return value ? 1 : 0
  if (value instanceof Date) return value.toISOString()
  return value
}

function execute<R>(
  db: Database,
  cache: { get(sql: string): BetterSqlite3.Statement | undefined; set(sql: string, s: BetterSqlite3.Statement): void },
  sql: string,
  params: readonly unknown[],
  rowMode?: RowMode,
): QueryResult<R> {
  let stmt = cache.get(sql)
  if (!stmt) {
    stmt = db.prepare(sql)
    cache.set(sql, stmt)
  }
  const args = params.map(bindable)
  if (stmt.reader) {
    let rows: R[]
    if (rowMode === 'array') {
      // Raw mode gives each row as an array in column order (duplicate names kept). Statements are
      // cached and shared, so it is switched off again before anyone else runs this one.
      stmt.raw(true)
      try {
        rows = stmt.all(...args) as R[]
      } finally {
        stmt.raw(false)
      }
    } else {
      rows = stmt.all(...args) as R[]
    }
    return { rows, rowCount: rows.length, fields: stmt.columns().map((c) => ({ name: c.name, ...(c.type ? { type: c.type.toLowerCase() } : {}) })) }
  }
  const info = stmt.run(...args)
  // lastInsertRowid is the connection's, not the statement's: after an UPDATE, or an INSERT
  // that inserted nothing, it is whatever was inserted last (another tenant's, on a shared
  // connection). Only an INSERT or REPLACE that changed rows reports it.
  const result = { rows: [], rowCount: info.changes, fields: [] }
  return info.changes > 0 && INSERTING.test(sql) ? { ...result, insertId: BigInt(info.lastInsertRowid) } : result
}

/** A statement whose first word inserts (a WITH prefix may still end in UPDATE or DELETE, so it is left out). */
const INSERTING = /^\s*(?:insert|replace)\b/i

/**
 * SQLite on better-sqlite3: one synchronous connection behind the async contract. A queue
 * gives a transaction the connection exclusively across its awaits, so another caller's
 * statement never lands inside it.
 *
 * Schemas are files beside the main database (`<filename>.<schema>.sqlite`). SQLite lets a
 * connection attach at most {@link MAX_ATTACHED} of them, so a statement that names a schema
 * file attaches it on demand, detaching the least recently used one that neither that
 * statement nor the open transaction uses. A schema-scoped `transaction` runs on its own
 * connection whose main database is the schema file, so unqualified names resolve there.
 *
 * Unscoped statements never see a schema file. SQLite resolves an unqualified table that is
 * not in `main` (or `temp`) in the first *attached* database that has it — with tenant files
 * attached on demand, that would be whichever tenant was asked for recently. So a file
 * database keeps two connections on the main file, used one at a time behind the same queue:
 * the home connection, which runs every statement that names no schema file and never has a
 * schema file attached outside a transaction, and a second one where statements naming schema
 * files run and the files stay attached (least recently used first). The separation costs
 * nothing per statement (the qualifier scan that decides it runs once per text) and keeps the
 * attachment cache, where detaching every file before each unscoped statement would re-attach
 * them (open the file, read its schema) on the next tenant's statement, and checking each
 * unscoped statement's plan for attached databases would cost a second prepare each time and
 * go stale when SQLite re-prepares a cached statement after a schema change.
 *
 * Where one connection must serve both — an unscoped transaction that names schema files
 * (attached to the home connection for that transaction only, and detached when it ends), and
 * in-memory databases, whose schemas live on the one connection — a statement naming no
 * schema is checked instead: its plan (EXPLAIN) must open no attached schema, else it fails
 * with "no such table".
 */
export class SqlitePool implements EnginePool {
  readonly engine = 'sqlite'
  readonly capabilities = SQLITE_CAPABILITIES
  readonly #options: SqlitePoolOptions
  readonly #memory: boolean
  /** The home connection: statements naming no schema file. No schema file is attached to it outside a transaction (file databases). */
  #db: Database | undefined
  readonly #statements = new Lru<string, BetterSqlite3.Statement>(256)
  /** File databases: the connection statements naming schema files run on, where {@link #attached} files stay attached. */
  #tenantDb: Database | undefined
  readonly #tenantStatements = new Lru<string, BetterSqlite3.Statement>(256)
  /** Qualifier candidates per statement text, so the scan runs once per text. */
  readonly #qualifiers = new Lru<string, readonly string[]>(1024)
  /** Schema files known to exist (file databases only). */
  readonly #files = new Set<string>()
  /** Qualifier candidates found to have no file (table aliases, mostly), so a hot statement does not stat them each run. */
  readonly #absent = new Set<string>()
  /** Attached schemas, least recently used first: on the tenant connection (in-memory databases: on the only one). */
  readonly #attached = new Map<string, true>()
  /** File databases: schema files attached to the home connection by the open unscoped transaction; detached when it ends. */
  readonly #txAttached = new Map<string, true>()
  /** Schemas the open transaction has touched: SQLite refuses to detach them, and so do we. */
  readonly #pinned = new Set<string>()
  #queue: Promise<unknown> = Promise.resolve()
  #pending = 0
  #closing: Promise<void> | undefined

  constructor(options: SqlitePoolOptions) {
    this.#options = options
    this.#memory = options.filename === ':memory:' || options.filename === ''
  }

  query<R = Row>(sql: string, params: readonly unknown[] = [], options?: QueryOptions): Promise<QueryResult<R>> {
    if (options?.schema !== undefined) return Promise.reject(this.#noSchemaScope())
    return this.#exclusive(async (db) => {
      throwIfAborted(options?.signal)
      const rowMode = options?.rowMode
      if (this.#memory) return this.#run<R>(db, this.#statements, this.#attached, sql, params, false, rowMode)
      if (this.#refs(sql).length === 0) {
        try {
          // No schema file attached here: an unqualified name resolves in main (or temp), or is "no such table".
          return execute<R>(db, this.#statements, sql, params, rowMode)
        } catch (err) {
          // A schema the scan missed (a name it cannot see): run it where schema files are attached.
          const missing = this.#missingSchema(err)
          if (missing === undefined || !this.#exists(missing)) throw toQueryError(err)
          this.#absent.delete(missing)
        }
      }
      return this.#run<R>(await this.#tenantConnection(), this.#tenantStatements, this.#attached, sql, params, false, rowMode)
    })
  }

  /**
   * With `schema`, `fn` runs on a connection opened on that schema's file, where unqualified
   * names resolve as a search path would make them; the pool's own database is attached to it
   * as {@link SQLITE_HOME_ALIAS}, so one transaction can write both.
   */
  transaction<T>(fn: (tx: EngineTransaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
    try {
      // Checked like every engine's, then nothing to do: SQLite transactions are always
      // serializable, which satisfies any level asked for.
      isolationLevelOf(options)
    } catch (err) {
      return Promise.reject(err)
    }
    if (options?.schema !== undefined) return this.#scopedTransaction(fn, options.schema)
    return this.#exclusive(async (db) => {
      // One connection keeps the transaction atomic: schema files it names are attached to the
      // home connection for its duration only (in-memory schemas already live there).
      const attached = this.#memory ? this.#attached : this.#txAttached
      this.#guarded(() => execute(db, this.#statements, 'BEGIN', []))
      try {
        const result = await fn(
          new SavepointTransaction(async (sql, params, o) => {
            throwIfAborted(o?.signal)
            return this.#run(db, this.#statements, attached, sql, params, true, o?.rowMode)
          }),
        )
        this.#guarded(() => execute(db, this.#statements, 'COMMIT', []))
        return result
      } catch (err) {
        if (db.inTransaction) this.#guarded(() => execute(db, this.#statements, 'ROLLBACK', []))
        throw err
      } finally {
        this.#pinned.clear()
        if (!this.#memory) this.#detachAllFromHome(db)
      }
    })
  }

  async checkConnection(): Promise<void> {
    await this.query('select 1')
  }

  introspect(options?: { schema?: string }): Promise<TableInfo[]> {
    const schema = options?.schema
    return this.#exclusive(async (home) => {
      let db = home
      let statements = this.#statements
      if (schema !== undefined && schema !== 'main' && this.#exists(schema)) {
        if (!this.#memory) {
          db = await this.#tenantConnection()
          statements = this.#tenantStatements
        }
        this.#attach(db, this.#attached, schema, [schema])
      }
      // pragma_table_info names the schema in a parameter, out of sight of the qualifier scan: attach first, then read.
      return introspectSqlite({ query: async <R>(sql: string, params?: readonly unknown[]) => this.#guarded(() => execute<R>(db, statements, sql, params ?? [])) }, (n) => this.quoteIdentifier(n), schema)
    })
  }

  /** Creates the schema's file beside the main one (an in-memory database when the main one is). */
  async createSchema(name: string): Promise<void> {
    this.#checkName(name)
    await this.#exclusive(async (db) => {
      if (this.#memory) {
        if (this.#attached.has(name)) throw new QueryError(`SQLite schema '${name}' already exists`, 'SQLITE_ERROR')
        if (this.#attached.size >= MAX_ATTACHED) {
          throw new QueryError(`An in-memory SQLite database holds at most ${MAX_ATTACHED} schemas (SQLITE_MAX_ATTACHED); use a database file for more`, 'SQLITE_ERROR')
        }
        this.#guarded(() => db.prepare(`attach database ':memory:' as ${this.quoteIdentifier(name)}`).run())
        this.#attached.set(name, true)
        return
      }
      if (this.#exists(name)) throw new QueryError(`SQLite schema '${name}' already exists (${this.#schemaFile(name)})`, 'SQLITE_ERROR')
      // ATTACH creates the file (on the tenant connection: never on the home one).
      this.#attach(await this.#tenantConnection(), this.#attached, name, [name])
      this.#files.add(name)
      this.#absent.delete(name)
    })
  }

  async dropSchema(name: string): Promise<void> {
    this.#checkName(name)
    await this.#exclusive(async (home) => {
      if (this.#attached.has(name)) {
        const db = this.#memory ? home : await this.#tenantConnection()
        this.#guarded(() => db.exec(`detach database ${this.quoteIdentifier(name)}`))
        this.#attached.delete(name)
      }
      if (this.#memory) return
      this.#files.delete(name)
      const file = this.#schemaFile(name)
      await Promise.all(SIDE_FILES.map((suffix) => unlink(file + suffix).catch(() => {})))
    })
  }

  async listSchemas(): Promise<string[]> {
    return this.#exclusive(async (db) => {
      // Schemas a caller attached by hand count too, as they did before attachment went on demand.
      const attached = execute<{ name: string }>(db, this.#statements, "select name from pragma_database_list where name not in ('main', 'temp')", []).rows.map((r) => r.name)
      return [...new Set([...this.#files, ...attached])].sort()
    })
  }

  quoteIdentifier(name: string): string {
    return quoteWith('"', name)
  }

  stats(): PoolStats {
    return { total: this.#db ? 1 : 0, idle: this.#db && this.#pending === 0 ? 1 : 0, waiting: Math.max(0, this.#pending - 1) }
  }

  close(): Promise<void> {
    this.#closing ??= this.#queue.then(() => {
      this.#db?.close()
      this.#tenantDb?.close()
    })
    return this.#closing
  }

  #scopedTransaction<T>(fn: (tx: EngineTransaction) => Promise<T>, schema: string): Promise<T> {
    if (this.#memory) {
      return Promise.reject(new UnsupportedError(`An in-memory SQLite database has no schema files to scope a transaction to ('${schema}'); use a database file`))
    }
    try {
      this.#checkName(schema)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.#exclusive(async () => {
      const file = this.#schemaFile(schema)
      if (!this.#exists(schema)) throw new QueryError(`SQLite schema '${schema}' does not exist (no file ${file})`, 'SQLITE_ERROR')
      let conn: Database
      try {
        conn = await this.#options.connect(file)
      } catch (err) {
        throw toConnectionError(err, file)
      }
      const statements = new Map<string, BetterSqlite3.Statement>()
      const run = <R>(sql: string, params: readonly unknown[], rowMode?: RowMode) => this.#guarded(() => execute<R>(conn, statements, sql, params, rowMode))
      try {
        run(`attach database ? as ${this.quoteIdentifier(SQLITE_HOME_ALIAS)}`, [this.#options.filename])
        run('BEGIN', [])
        try {
          // At COMMIT SQLite writes the schema file (main) before the home database. In WAL mode
          // the two are not atomic as a set: a crash between them leaves the tenant's work
          // committed and a status row written in the same transaction missing — never the reverse.
          const result = await fn(
            new SavepointTransaction(async (sql, params, o) => {
              throwIfAborted(o?.signal)
              return run(sql, params, o?.rowMode)
            }),
          )
          run('COMMIT', [])
          return result
        } catch (err) {
          if (conn.inTransaction) run('ROLLBACK', [])
          throw err
        }
      } finally {
        conn.close()
      }
    })
  }

  #schemaFile(name: string): string {
    return `${this.#options.filename}.${name}.sqlite`
  }

  #checkName(name: string): void {
    // The name becomes part of a file path: nothing but a plain identifier may pass.
    if (typeof name !== 'string' || !IDENTIFIER.test(name)) throw new InvalidSchemaNameError(String(name), 'a SQLite schema name must be letters, digits and _ (it names a file)')
    if (name === 'main' || name === 'temp' || name === SQLITE_HOME_ALIAS) throw new InvalidSchemaNameError(name, `'${name}' is reserved`)
  }

  #noSchemaScope(): UnsupportedError {
    return new UnsupportedError(
      'SQLite cannot scope one statement to an attached database (name resolution order is fixed); qualify the tables, or use a schema-scoped transaction',
    )
  }

  /** Whether a schema file exists; a file another process created is found and remembered. */
  #exists(name: string): boolean {
    if (this.#memory) return this.#attached.has(name)
    if (this.#files.has(name)) return true
    if (!IDENTIFIER.test(name) || !existsSync(this.#schemaFile(name))) return false
    this.#files.add(name)
    return true
  }

  /** Makes `name` attached to `db` (whose attachments `attached` tracks) and the most recently used; `keep` must stay attached meanwhile. */
  #attach(db: Database, attached: Map<string, true>, name: string, keep: readonly string[]): void {
    if (attached.delete(name)) {
      attached.set(name, true)
      return
    }
    if (this.#memory) return
    while (attached.size >= this.#options.maxAttached) this.#evict(db, attached, keep)
    const attach = () => db.prepare(`attach database ? as ${this.quoteIdentifier(name)}`).run(this.#schemaFile(name))
    try {
      attach()
    } catch (err) {
      // Slots taken by an ATTACH the application ran itself: free one of ours and try once more.
      if (!/too many attached databases/.test((err as Error)?.message ?? '') || attached.size === 0) throw toQueryError(err)
      this.#evict(db, attached, keep)
      this.#guarded(attach)
    }
    attached.set(name, true)
  }

  #evict(db: Database, attached: Map<string, true>, keep: readonly string[]): void {
    for (const victim of attached.keys()) {
      if (keep.includes(victim) || this.#pinned.has(victim)) continue
      try {
        db.exec(`detach database ${this.quoteIdentifier(victim)}`)
      } catch {
        continue // in use by a statement SQLite still holds: leave it
      }
      attached.delete(victim)
      return
    }
    throw new QueryError(
      `SQLite keeps at most ${this.#options.maxAttached} schema files attached, and all of them are in use by this statement or the open transaction`,
      'SQLITE_ERROR',
    )
  }

  /** Schema files a statement names (scanned once per text; a false hit only attaches a file). */
  #refs(sql: string): readonly string[] {
    let refs = this.#qualifiers.get(sql)
    if (refs === undefined) {
      const names = new Set<string>()
      for (const m of sql.matchAll(QUALIFIER)) {
        const name = m[1]?.replaceAll('""', '"') ?? m[2] ?? m[3] ?? m[4]
        if (name !== undefined && name !== 'main' && name !== 'temp' && IDENTIFIER.test(name)) names.add(name)
      }
      refs = [...names]
      this.#qualifiers.set(sql, refs)
    }
    return refs.filter((n) => {
      if (this.#absent.has(n)) return false
      if (this.#exists(n)) return true
      if (this.#absent.size >= 10_000) this.#absent.clear()
      this.#absent.add(n)
      return false
    })
  }

  /** Runs `sql` on `db`, attaching the schema files it names first (tracked in `attached`). */
  #run<R>(
    db: Database,
    statements: Lru<string, BetterSqlite3.Statement>,
    attached: Map<string, true>,
    sql: string,
    params: readonly unknown[],
    inTransaction: boolean,
    rowMode?: RowMode,
  ): QueryResult<R> {
    const refs = this.#refs(sql)
    for (const r of refs) {
      this.#attach(db, attached, r, refs)
      if (inTransaction) this.#pinned.add(r)
    }
    try {
      // Names no schema, on a connection with schema files attached: it must not resolve into one.
      if (refs.length === 0 && attached.size > 0 && !EXPLAIN.test(sql)) this.#refuseImplicitSchema(db, attached, sql, params)
      return execute<R>(db, statements, sql, params, rowMode)
    } catch (err) {
      if (err instanceof QueryError) throw err
      // A schema the scan missed (a name it cannot see, a file created by another process):
      // the statement failed while being prepared, before it did anything, so attach and retry.
      const missing = this.#missingSchema(err)
      if (missing === undefined || attached.has(missing) || !this.#exists(missing)) throw toQueryError(err)
      this.#absent.delete(missing)
      statements.delete(sql)
      this.#attach(db, attached, missing, [...refs, missing])
      if (inTransaction) this.#pinned.add(missing)
      return this.#guarded(() => execute<R>(db, statements, sql, params, rowMode))
    }
  }

  /**
   * Fails when SQLite would resolve a statement that names no schema into an attached schema
   * file: the plan opens a transaction on every database the statement touches (OP_Transaction,
   * P1 = the database's index in pragma_database_list).
   */
  #refuseImplicitSchema(db: Database, attached: Map<string, true>, sql: string, params: readonly unknown[]): void {
    const plan = db.prepare(`explain ${sql}`).all(...params.map(bindable)) as Array<{ opcode: string; p1: number }>
    const touched = new Set(plan.filter((op) => op.opcode === 'Transaction' && op.p1 >= 2).map((op) => op.p1))
    if (touched.size === 0) return
    for (const { seq, name } of db.prepare('select seq, name from pragma_database_list').all() as Array<{ seq: number; name: string }>) {
      if (touched.has(seq) && attached.has(name)) {
        throw new QueryError(
          `no such table in main: the statement names no schema, and SQLite would resolve it into the attached schema '${name}'; qualify the table with its schema, or run it in a tenant context`,
          'SQLITE_ERROR',
        )
      }
    }
  }

  /** Ends the unscoped transaction's attachments to the home connection; a connection that cannot detach is closed (reopened on next use). */
  #detachAllFromHome(db: Database): void {
    for (const name of [...this.#txAttached.keys()]) {
      try {
        db.exec(`detach database ${this.quoteIdentifier(name)}`)
        this.#txAttached.delete(name)
      } catch {
        this.#txAttached.clear()
        this.#statements.clear()
        this.#db = undefined
        try {
          db.close()
        } catch {
          // already unusable
        }
        return
      }
    }
  }

  /** File databases: the connection schema files are attached to, opened on the main file on first use. */
  async #tenantConnection(): Promise<Database> {
    if (this.#memory) return (await this.#connect())
    if (!this.#tenantDb) {
      try {
        this.#tenantDb = await this.#options.connect(this.#options.filename)
      } catch (err) {
        throw toConnectionError(err, this.#options.filename)
      }
    }
    return this.#tenantDb
  }

  #missingSchema(err: unknown): string | undefined {
    const message = (err as Error)?.message ?? ''
    for (const re of MISSING_SCHEMA) {
      const name = re.exec(message)?.[1]
      if (name !== undefined) return name
    }
    return undefined
  }

  #guarded<T>(fn: () => T): T {
    try {
      return fn()
    } catch (err) {
      throw toQueryError(err)
    }
  }

  /** Queues `fn` behind every earlier caller; it has the connection alone until it settles. */
  #exclusive<T>(fn: (db: Database) => Promise<T>): Promise<T> {
    if (this.#closing) return Promise.reject(new PoolClosedError(`SQLite pool for ${this.#options.filename}`))
    this.#pending++
    const run = this.#queue.then(async () => fn(await this.#connect()))
    const settled = run.finally(() => this.#pending--)
    this.#queue = settled.catch(() => {})
    return settled
  }

  async #connect(): Promise<Database> {
    if (!this.#db) {
      try {
        this.#db = await this.#options.open()
      } catch (err) {
        throw toConnectionError(err, this.#options.filename)
      }
      if (!this.#memory) await this.#discover()
    }
    return this.#db
  }

  /** Schema files made earlier (by this process or another) are known from the start; none is attached yet. */
  async #discover(): Promise<void> {
    const prefix = `${basename(this.#options.filename)}.`
    for (const f of await readdir(dirname(this.#options.filename)).catch(() => [] as string[])) {
      const name = f.startsWith(prefix) && f.endsWith('.sqlite') ? f.slice(prefix.length, -'.sqlite'.length) : ''
      if (IDENTIFIER.test(name) && existsSync(join(dirname(this.#options.filename), f))) this.#files.add(name)
    }
  }
}
