/**
 * The engine contract. Every engine folder (`postgres`, `pglite`, `mysql`, `sqlite`) has the
 * same files — `index.ts` (the factory), `pool.ts` (the {@link EnginePool}), `errors.ts`
 * (driver errors mapped onto Switchyard's), `introspect.ts` — and differs from the others
 * only behind this surface and its {@link EngineCapabilities}.
 */

export type Row = Record<string, unknown>

/** What differs between engines. Code outside `engines/` branches on these, never on names. */
export interface EngineCapabilities {
  /** Named schemas inside one database (PostgreSQL, PGlite). MySQL's databases and SQLite's attached files stand in for them where this is false. */
  readonly schemas: boolean
  /** DDL inside a transaction rolls back with it. */
  readonly transactionalDdl: boolean
  /** `INSERT ... RETURNING` works. */
  readonly returning: boolean
  /** The pool holds more than one connection, so statements can run in parallel. */
  readonly multipleConnections: boolean
  /** The SQL dialect the statement classifier and qualifier parse with; only `postgres` is parsed. */
  readonly dialect: 'postgres' | 'mysql' | 'sqlite'
  /** Placeholder style of parameterised statements: `$1` (postgres) or `?`. */
  readonly placeholders: 'numbered' | 'question'
  /** The character that quotes identifiers (doubled inside one). */
  readonly identifierQuote: '"' | '`'
  /**
   * How a statement is pinned to one tenant's schema: a transaction-local search path
   * (PostgreSQL), selecting the tenant's database (MySQL), or qualifying every table with
   * the tenant's attached database file (SQLite, whose name resolution order is fixed).
   */
  readonly schemaScoping: 'search-path' | 'database' | 'attached'
  /**
   * An AbortSignal stops a statement already running on the server (PostgreSQL's
   * `pg_cancel_backend`, MySQL's `KILL QUERY`). Absent or false: a signal is honoured only
   * before the statement starts (it then rejects with QUERY_CANCELLED and runs nothing).
   */
  readonly cancellation?: boolean
  /**
   * Appended to a `select` that must see rows committed after the transaction's snapshot was
   * taken: InnoDB's default REPEATABLE READ hides them from plain reads, a locking read sees
   * them. Absent where plain reads inside a transaction already see every committed row
   * (PostgreSQL's READ COMMITTED, engines with a single writer).
   */
  readonly currentReadClause?: string
}

export interface QueryResult<R = Row> {
  readonly rows: R[]
  /** Rows returned, or rows affected for a statement that returns none. */
  readonly rowCount: number
  /** Column names in result order, with the engine's type name where it reports one. */
  readonly fields: readonly FieldInfo[]
  /**
   * The auto-increment id (rowid) an INSERT generated, on MySQL/MariaDB and SQLite: this
   * statement's own, never another session's. Under schema routing `LAST_INSERT_ID()` and
   * `last_insert_rowid()` are refused, as on a shared connection they can be another tenant's.
   * PostgreSQL uses `RETURNING`.
   */
  readonly insertId?: bigint
}

export interface FieldInfo {
  readonly name: string
  /** Engine type name (`int4`, `text`, `VARCHAR`, ...) where the driver reports it. */
  readonly type?: string
}

export interface QueryOptions {
  /** Run this one statement with this schema as the search path (the engine applies it without leaving it on the connection). */
  readonly schema?: string
  /** Search these schemas, in order, for this one statement (tenant then shared schemas); overrides `schema` on search-path engines, which put pg_catalog after the first (the tenant's) and pg_temp last (see localSearchPath). */
  readonly searchPath?: readonly string[]
  /** Cancels the statement; the connection is cleaned before it goes back to the pool. */
  readonly signal?: AbortSignal
  /**
   * The shape of each row. `'object'` (the default): an object keyed by column name, so a
   * later column with the same name as an earlier one overwrites it. `'array'`: an array of
   * values in {@link QueryResult.fields} order, one per column, so duplicate names
   * (`select 1 as a, 2 as a`, `select * from x join y` where both have `id`) are all kept;
   * `fields` lists every column, duplicates included. Pass `R = unknown[]` (or a tuple type)
   * to type the rows. Combines with `schema`, `searchPath` and `signal`, and works on a
   * transaction's `query` too.
   *
   * @example
   * ```ts
   * import { sqlite } from 'switchyard/sqlite'
   *
   * const pool = sqlite({ filename: ':memory:' }).createPool()
   * const { rows, fields } = await pool.query<[number, number]>('select 1 as a, 2 as a', [], { rowMode: 'array' })
   * console.log(rows, fields.map((f) => f.name)) // [[1, 2]] ['a', 'a']
   * await pool.close()
   * ```
   */
  readonly rowMode?: RowMode
}

/** How a statement's rows are shaped: objects keyed by column name, or arrays in column order. See {@link QueryOptions.rowMode}. */
export type RowMode = 'object' | 'array'

/** Something statements run on: a pool, or one connection inside a transaction. */
export interface Queryable {
  query<R = Row>(sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult<R>>
}

/** One connection inside an open transaction. Nested `transaction` calls use savepoints. */
export interface EngineTransaction extends Queryable {
  transaction<T>(fn: (tx: EngineTransaction) => Promise<T>): Promise<T>
}

export interface TransactionOptions {
  /** Sets the search path for this transaction only (`set_config(..., true)` / the engine's equivalent). */
  readonly schema?: string
  /** Search these schemas, in order, for this transaction only; overrides `schema` on search-path engines, which put pg_catalog after the first (the tenant's) and pg_temp last (see localSearchPath). */
  readonly searchPath?: readonly string[]
  /** The transaction may not write (`BEGIN READ ONLY`, `START TRANSACTION READ ONLY`); SQLite ignores it. */
  readonly readOnly?: boolean
  /**
   * The isolation level of this transaction only; absent keeps the server's default. It is
   * set as the transaction starts, before any statement runs in it (PostgreSQL refuses it
   * later, error 25001), and never stays on the pooled connection. An unknown value fails
   * with a ConfigurationError (code `CONFIGURATION`) before any connection is taken.
   *
   * @example
   * ```ts
   * import { sqlite } from 'switchyard/sqlite'
   *
   * const pool = sqlite({ filename: ':memory:' }).createPool()
   * await pool.query('create table seats (id integer primary key, taken integer not null)')
   * await pool.transaction(async (tx) => {
   *   const { rows } = await tx.query<{ n: number }>('select count(*) as n from seats where taken = 1')
   *   if (Number(rows[0]?.n) < 10) await tx.query('insert into seats (taken) values (1)')
   * }, { isolationLevel: 'serializable' })
   * await pool.close()
   * ```
   */
  readonly isolationLevel?: IsolationLevel
}

/**
 * The SQL standard's isolation levels, as each engine spells them in SQL. Engines may run a
 * stronger level than asked, as the standard allows: PostgreSQL and PGlite run
 * `read uncommitted` as `read committed`; SQLite transactions are always serializable,
 * which satisfies every level. MySQL/MariaDB (InnoDB) run each level as named.
 */
export type IsolationLevel = 'read uncommitted' | 'read committed' | 'repeatable read' | 'serializable'

export interface ColumnInfo {
  readonly name: string
  /** The engine's own type name, lower-cased (`integer`, `character varying`, `int`, `text`). */
  readonly type: string
  readonly nullable: boolean
  readonly position: number
}

export interface TableInfo {
  readonly schema: string
  readonly name: string
  readonly columns: readonly ColumnInfo[]
}

export interface PoolStats {
  /** Connections open now. */
  readonly total: number
  readonly idle: number
  /**
   * Callers queued for a connection, as the driver's pool counts them. On postgres and mysql
   * this includes a caller whose AbortSignal ended its wait: neither driver can take a waiter
   * out of its queue, so it stays counted until the pool reaches it and hands the connection
   * straight back. Read it as queue depth, not as callers still listening.
   */
  readonly waiting: number
}

/**
 * An open pool on one database. Created lazily by {@link EngineSpec.createPool}; Switchyard
 * opens and closes these itself, but a pool can be used on its own too.
 *
 * @example
 * ```ts
 * import { sqlite } from 'switchyard/sqlite'
 *
 * const pool = sqlite({ filename: ':memory:' }).createPool()
 * await pool.checkConnection()
 * await pool.query('create table notes (id integer primary key, body text not null)')
 * await pool.transaction(async (tx) => {
 *   await tx.query('insert into notes (id, body) values (?, ?)', [1, 'kept'])
 *   // A nested transaction is a savepoint: its failure undoes only its own work.
 *   await tx.transaction(async (sp) => {
 *     await sp.query('insert into notes (id, body) values (?, ?)', [2, 'undone'])
 *     throw new Error('changed my mind')
 *   }).catch(() => {})
 * })
 * const { rows } = await pool.query('select body from notes') // [{ body: 'kept' }]
 * console.log(rows, (await pool.introspect())[0]?.columns.map((c) => c.name), pool.quoteIdentifier('odd"name'))
 * await pool.close()
 * ```
 */
export interface EnginePool extends Queryable {
  readonly engine: string
  readonly capabilities: EngineCapabilities
  /** Runs `fn` inside one transaction on one connection; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: EngineTransaction) => Promise<T>, options?: TransactionOptions): Promise<T>
  /** Opens a connection and runs a trivial statement; throws a {@link ConnectionError} naming what failed. */
  checkConnection(): Promise<void>
  /** Tables and columns of one schema (default: the connection's current schema / database). */
  introspect(options?: { schema?: string }): Promise<TableInfo[]>
  createSchema(name: string): Promise<void>
  dropSchema(name: string, options?: { cascade?: boolean }): Promise<void>
  listSchemas(): Promise<string[]>
  quoteIdentifier(name: string): string
  stats(): PoolStats
  /** Waits for in-flight statements, then closes every connection. Idempotent. */
  close(): Promise<void>
}

/**
 * What an engine factory returns: frozen connection details plus a way to open a pool.
 * Nothing connects until {@link createPool} is called (Switchyard does that lazily per alias).
 */
export interface EngineSpec {
  readonly engine: string
  readonly capabilities: EngineCapabilities
  /** The details with secrets removed, safe to log or return over HTTP. */
  readonly description: Readonly<Record<string, unknown>>
  /** Maximum connections the pool opens (counts against Switchyard's global cap). */
  readonly maxConnections: number
  createPool(): EnginePool
}

/** Connection details shared by the network engines. */
export interface NetworkConnectionDetails {
  readonly connectionString?: string
  readonly host?: string
  readonly port?: number
  readonly database?: string
  readonly user?: string
  readonly password?: string
  readonly ssl?: boolean | Record<string, unknown>
  /** Pool size. Default 10. */
  readonly max?: number
  /**
   * How long a caller may wait for a connection: a connection attempt that takes longer fails
   * with CONNECTION_TIMEOUT, and a caller queued behind `max` busy connections for longer fails
   * with POOL_EXHAUSTED. Default 10 000 ms; 0 waits forever.
   */
  readonly connectTimeoutMs?: number
}
