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
}

export interface QueryResult<R = Row> {
  readonly rows: R[]
  /** Rows returned, or rows affected for a statement that returns none. */
  readonly rowCount: number
  /** Column names in result order, with the engine's type name where it reports one. */
  readonly fields: readonly FieldInfo[]
}

export interface FieldInfo {
  readonly name: string
  /** Engine type name (`int4`, `text`, `VARCHAR`, ...) where the driver reports it. */
  readonly type?: string
}

export interface QueryOptions {
  /** Run this one statement with this schema as the search path (the engine applies it without leaving it on the connection). */
  readonly schema?: string
  /** Cancels the statement; the connection is cleaned before it goes back to the pool. */
  readonly signal?: AbortSignal
}

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
  readonly readOnly?: boolean
}

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
  /** Callers waiting for a connection. */
  readonly waiting: number
}

/** An open pool on one database. Created lazily by {@link EngineSpec.createPool}. */
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
  /** How long a connection attempt may take before it fails with CONNECTION_TIMEOUT. Default 10 000 ms. */
  readonly connectTimeoutMs?: number
}
