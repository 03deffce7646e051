import { TenantIsolationError } from '../errors.js'
import { Lru } from '../util/lru.js'
import { sharedChangeError } from './guard.js'

/**
 * The tenant-isolation guard for MySQL and MariaDB, where a tenant's "schema" is a database
 * selected per statement: every statement is read with a real MySQL grammar
 * (node-sql-parser) before it runs, and refused when it names a database other than the
 * tenant's or the shared ones, changes state that would outlive it on a pooled connection,
 * or cannot be read at all. It fails closed: a statement the guard cannot verify is refused,
 * never passed through.
 *
 * What it checks, per statement text (cached, see {@link MysqlGuard}):
 * - lexically, before parsing, the places where MySQL and the parser read a text differently:
 *   executable comments (`/*! ... *\/`, `/*M! ... *\/` — code to MySQL, a comment to the
 *   parser), `--` not followed by a space (two minus signs to MySQL, a comment to the parser),
 *   unterminated strings and comments, and `?` / `??` where mysql2's client-side placeholder
 *   substitution would splice a parameter into a string literal, a comment or an identifier,
 *   and line comments holding a lone carriage return (MySQL ends them at `\n` only, the parser
 *   at `\r` too, so a string opened after the `\r` would hide code from the parser);
 * - exactly one statement, of a kind confined to the current database (queries, DML, DDL on
 *   tables, views and indexes); `USE`, every `SET` (including `SET NAMES` and transaction
 *   characteristics, which outlive the statement on the pooled connection), transaction
 *   control, locks, `CALL` (a procedure body cannot be read), `SHOW`, `LOAD DATA`, `PREPARE`,
 *   grants and database-level DDL are refused;
 * - every database qualifier anywhere in the tree — tables, columns, function and procedure
 *   names, foreign keys, `LIKE` sources, sequence functions' arguments — against the tenant's
 *   database and the shared ones (`information_schema`, `performance_schema`, `mysql` and
 *   `sys` are not open to tenants unless listed as shared: they expose other tenants' table
 *   names, row counts and running statements' text);
 * - state and files: user variables (`@x`, read or assigned: they stay on the pooled
 *   connection, where the next tenant could read them), `SELECT ... INTO`, `LOAD_FILE`, named
 *   locks (`GET_LOCK`, server-wide), `LAST_INSERT_ID()` in both forms, temporary tables, and storage
 *   engines or table options that reach other databases or the file system (FEDERATED,
 *   CONNECT, MERGE, SPIDER; `CONNECTION`, `UNION`, `DATA/INDEX DIRECTORY`);
 * - changes to the shared databases, which every tenant reads: DDL and TRUNCATE on a table,
 *   view or index in one (RENAME TABLE into or out of one included) are always refused, and
 *   INSERT, REPLACE, UPDATE and DELETE into one unless the router's `sharedWrites` is set, and
 *   so is a view reading a table in one (rows written through the view land there).
 *
 * It assumes the server's default lexing — backslash escapes in strings and `"` as a string
 * quote (no `NO_BACKSLASH_ESCAPES` or `ANSI_QUOTES` in the server's sql_mode) — as mysql2's own
 * parameter escaping does; a tenant cannot change sql_mode since `SET` is refused.
 *
 * Statements the grammar does not cover (some valid MySQL, e.g. `REGEXP ?`) are refused too:
 * run them outside a tenant context, qualify them by hand on the pool, or rewrite them.
 */

/** A statement's analysis: the databases it names, or why it is refused. Independent of the tenant. */
export interface MysqlAnalysis {
  /** Every database the statement names explicitly (deduplicated, as written). */
  readonly databases: readonly string[]
  /** Set when the statement is refused whatever the tenant. */
  readonly refusal?: MysqlRefusal
  /** Tables in an explicitly named database that the statement changes (absent when none): refused when the database is shared. */
  readonly changes?: readonly MysqlChange[]
}

/** A table the statement changes, in a database it names explicitly (an unqualified one is in the tenant's database). */
export interface MysqlChange {
  /** `structure`: DDL or TRUNCATE; `rows`: INSERT, REPLACE, UPDATE, DELETE, setval(), nextval(), SELECT ... FOR UPDATE; `view`: a table a CREATE VIEW reads (writes through the view land there), refused like `rows`. */
  readonly change: 'structure' | 'rows' | 'view'
  /** The statement kind, for messages: `DROP TABLE`, `INSERT INTO`, `CREATE VIEW v reading`. */
  readonly statement: string
  readonly database: string
  /** The object as written: `db.table`. */
  readonly object: string
}

export interface MysqlRefusal {
  /** `unverifiable`: the guard could not read it; `session`: it changes connection state; `refused`: it reaches beyond the tenant's database. */
  readonly kind: 'unverifiable' | 'session' | 'refused'
  readonly reason: string
}

/**
 * A statement the guard could not verify for tenant isolation (the MySQL parser cannot read
 * it, or it hides text from the parser), so schema routing refused it. A
 * {@link TenantIsolationError}, so one `instanceof` check covers every refusal.
 */
export class UnverifiableStatementError extends TenantIsolationError {
  constructor(readonly reason: string, tenantSchema: string, options?: { cause?: unknown }) {
    super(
      '(unverifiable)',
      tenantSchema,
      `Statement could not be verified for tenant isolation (${reason}); schema routing refuses statements it cannot check. Run it outside a tenant context, or rewrite it.`,
    )
    if (options?.cause !== undefined) Object.defineProperty(this, 'cause', { value: options.cause, enumerable: false, writable: true, configurable: true })
  }
}

interface SqlParser {
  parse(sql: string, opt?: { database?: string }): { ast: unknown; tableList: string[] }
}

let parsers: { mysql: SqlParser; mariadb: SqlParser } | undefined
let loading: Promise<void> | undefined

/** Loads the MySQL and MariaDB grammars (about 0.5 MB of JavaScript) on first use. */
export function ensureMysqlParser(): Promise<void> {
  if (parsers !== undefined) return Promise.resolve()
  loading ??= (async () => {
    // Only the two grammars, not the package's all-dialects bundle (2.5 MB).
    const [my, maria] = await Promise.all([import('node-sql-parser/build/mysql.js'), import('node-sql-parser/build/mariadb.js')])
    const MyParser = (my as unknown as { default: { Parser: new () => SqlParser } }).default.Parser
    const MariaParser = (maria as unknown as { default: { Parser: new () => SqlParser } }).default.Parser
    parsers = { mysql: new MyParser(), mariadb: new MariaParser() }
  })()
  loading.catch(() => {
    loading = undefined
  })
  return loading
}

export function mysqlParserReady(): boolean {
  return parsers !== undefined
}

/** Statement kinds confined to the current database (their qualifiers are checked). */
const ALLOWED_TYPES = new Set(['select', 'insert', 'replace', 'update', 'delete', 'create', 'alter', 'drop', 'truncate', 'rename', 'explain'])
/** CREATE / DROP objects that live inside one database. */
const ALLOWED_OBJECTS = new Set(['table', 'view', 'index'])
/** Statement kinds that change the connection's state (and would outlive the statement on a pooled connection). */
const SESSION_TYPES = new Set(['use', 'set', 'transaction', 'lock', 'unlock'])
/** Functions refused by name (lower case): files, server-wide locks, replication waits, UDFs that run programs. */
/**
 * The connection's last generated id (`LAST_INSERT_ID()`, `@@identity`, `@@last_insert_id`):
 * on a pooled connection it can be the id another tenant's INSERT just took. The statement's
 * own id is on its result (`insertId`), and MariaDB has `INSERT ... RETURNING`.
 */
const LAST_ID = "LAST_INSERT_ID() reads the last id this pooled connection generated, possibly for another tenant; read the INSERT result's insertId (or use INSERT ... RETURNING on MariaDB)"
const LAST_ID_VARIABLES = new Set(['identity', 'last_insert_id'])

/** `@@x`, `@@session.x`, `@@global.x` as node-sql-parser gives them: the variable's name, lower-cased. */
function systemVariable(o: Record<string, unknown>): string {
  const name = String(o.name ?? '').toLowerCase()
  const members = Array.isArray(o.members) ? o.members : []
  return (name === 'session' || name === 'global' || name === 'local') && members.length > 0 ? String(members[0]).toLowerCase() : name
}

const REFUSED_FUNCTIONS = new Map<string, string>([
  ['load_file', 'LOAD_FILE() reads server files'],
  ['get_lock', 'named locks are server-wide and held by the pooled connection'],
  ['release_lock', 'named locks are server-wide and held by the pooled connection'],
  ['release_all_locks', 'named locks are server-wide and held by the pooled connection'],
  ['is_free_lock', 'named locks are server-wide (another tenant can probe them)'],
  ['is_used_lock', 'named locks are server-wide (another tenant can probe them)'],
  ['master_pos_wait', 'replication functions reach beyond the database'],
  ['source_pos_wait', 'replication functions reach beyond the database'],
  ['master_gtid_wait', 'replication functions reach beyond the database'],
  ['sys_exec', 'runs a program on the server'],
  ['sys_eval', 'runs a program on the server'],
])
/** MariaDB sequence functions: their argument is a sequence name, `db.seq`, parsed as a column reference. */
const SEQUENCE_FUNCTIONS = new Set(['nextval', 'lastval', 'setval'])
/** Storage engines whose tables stay inside their database's files. */
const SAFE_ENGINES = new Set(['innodb', 'myisam', 'aria', 'memory', 'heap'])
/** Table options that point a table at other databases, servers or directories. */
const REFUSED_TABLE_OPTIONS = new Set(['connection', 'union', 'data directory', 'index directory'])

/**
 * Reads `sql` the way MySQL's lexer does and reports what would make the parser see a
 * different statement than the server runs (undefined when there is nothing).
 */
export function scanMysqlText(sql: string): string | undefined {
  const n = sql.length
  let i = 0
  while (i < n) {
    const c = sql[i]!
    if (c === "'" || c === '"') {
      let j = i + 1
      for (; j < n; j++) {
        const ch = sql[j]
        if (ch === '\\') {
          j++
          continue
        }
        if (ch === '?') return 'a ? inside a string literal would be replaced by a parameter'
        if (ch === c) {
          if (sql[j + 1] === c) {
            j++
            continue
          }
          break
        }
      }
      if (j >= n) return 'unterminated string literal'
      i = j + 1
      continue
    }
    if (c === '`') {
      let j = i + 1
      for (; j < n; j++) {
        if (sql[j] === '?') return 'a ? inside a quoted identifier would be replaced by a parameter'
        if (sql[j] === '`') {
          if (sql[j + 1] === '`') {
            j++
            continue
          }
          break
        }
      }
      if (j >= n) return 'unterminated quoted identifier'
      i = j + 1
      continue
    }
    if (c === '#' || (c === '-' && sql[i + 1] === '-')) {
      if (c === '-') {
        const next = sql.charCodeAt(i + 2)
        // MySQL starts a comment at "--" only before a space or control character; "1--1" is 1 - -1 to it, a comment to the parser.
        if (Number.isNaN(next) || next > 0x20) return '"--" not followed by a space (MySQL reads it as two minus signs, the parser as a comment)'
      }
      let j = sql.indexOf('\n', i)
      if (j === -1) j = n
      const comment = sql.slice(i, j)
      if (comment.includes('?')) return 'a ? inside a comment would be replaced by a parameter'
      // MySQL ends the comment at \n only; the parser also at \r (and may at U+2028/9): what follows would be read differently.
      if (/\r(?!$)|[\u2028\u2029]/.test(comment)) return 'a line comment holding a carriage return or line separator (MySQL and the parser end it at different places)'
      i = j
      continue
    }
    if (c === '/' && sql[i + 1] === '*') {
      const k = sql[i + 2]
      if (k === '!' || ((k === 'M' || k === 'm') && sql[i + 3] === '!')) return 'an executable comment (/*! ... */ or /*M! ... */) runs as code on the server'
      const end = sql.indexOf('*/', i + 2)
      if (end === -1) return 'unterminated comment'
      if (sql.slice(i, end).includes('?')) return 'a ? inside a comment would be replaced by a parameter'
      i = end + 2
      continue
    }
    if (c === '?' && sql[i + 1] === '?') return '?? (an identifier placeholder) splices a parameter in as a table or database name'
    if (c === '\0') return 'a NUL character'
    i++
  }
  return undefined
}

/** Collects database qualifiers and refusals from a parsed statement tree. */
class Walker {
  readonly databases = new Set<string>()
  readonly changes: MysqlChange[] = []
  refusal: MysqlRefusal | undefined

  refuse(kind: MysqlRefusal['kind'], reason: string): void {
    this.refusal ??= { kind, reason }
  }

  statement(ast: Record<string, unknown>): void {
    const type = String(ast.type ?? '').toLowerCase()
    if (SESSION_TYPES.has(type)) {
      return this.refuse('session', `${type.toUpperCase()} changes the connection's state, which would outlive the statement on a pooled connection`)
    }
    if (type === 'call') return this.refuse('unverifiable', "CALL runs a procedure whose body the guard cannot read")
    if (!ALLOWED_TYPES.has(type)) return this.refuse('refused', `${type.toUpperCase() || 'this statement'} is not allowed in a schema-routed statement; run it outside a tenant context`)
    if (type === 'create' || type === 'drop') {
      const object = String(ast.keyword ?? '').toLowerCase()
      if (!ALLOWED_OBJECTS.has(object)) return this.refuse('refused', `${type.toUpperCase()} ${object.toUpperCase() || '?'} reaches beyond the tenant's database`)
    }
    if (type === 'create' && ast.temporary) return this.refuse('session', 'a temporary table lives on the pooled connection')
    this.#changes(type, ast)
    this.node(ast)
  }

  /** Records the tables the statement creates, alters, drops, truncates, renames or writes rows into. */
  #changes(type: string, ast: Record<string, unknown>): void {
    const keyword = String(ast.keyword ?? '').toLowerCase()
    const structure = (statement: string, ref: unknown) => this.#change('structure', statement, ref)
    switch (type) {
      case 'insert':
      case 'replace':
        for (const t of entries(ast.table)) this.#change('rows', `${type.toUpperCase()} INTO`, t)
        break
      case 'update':
        this.#updateTargets(ast)
        break
      case 'delete':
        this.#deleteTargets(ast)
        break
      case 'create':
        if (keyword === 'index') structure('CREATE INDEX ... ON', ast.table)
        else if (keyword === 'view') {
          structure('CREATE VIEW', ast.view)
          this.#viewReads(ast)
        } else for (const t of entries(ast.table)) structure('CREATE TABLE', t)
        break
      case 'drop':
        if (keyword === 'index') structure('DROP INDEX ... ON', ast.table)
        else for (const t of entries(ast.name)) structure(`DROP ${keyword.toUpperCase()}`, t)
        break
      case 'truncate':
        for (const t of entries(ast.name)) structure('TRUNCATE TABLE', t)
        break
      case 'alter':
        for (const t of entries(ast.table)) structure('ALTER TABLE', t)
        break
      case 'rename':
        // Both sides: renaming moves a table out of, or into, the database either names.
        for (const pair of entries(ast.table)) for (const t of entries(pair)) structure('RENAME TABLE', t)
        break
    }
  }

  /**
   * A view is updatable when it reads one table (MERGE algorithm, no aggregates...): INSERT,
   * UPDATE and DELETE on it write that table. Every table its query reads in a named database
   * counts, wherever it sits (joins, subqueries, CTEs); an unqualified one is in the tenant's
   * database.
   */
  #viewReads(ast: Record<string, unknown>): void {
    const view = String((ast.view as TableRef | null | undefined)?.view ?? '?')
    this.#tablesUnder(ast.select, 'view', `CREATE VIEW ${view} reading`)
  }

  /** The parser's table list is a second witness of what a view reads (`select::db::table`). */
  viewSources(ast: Record<string, unknown>, tableList: readonly string[]): void {
    if (String(ast.type ?? '').toLowerCase() !== 'create' || String(ast.keyword ?? '').toLowerCase() !== 'view') return
    const view = String((ast.view as TableRef | null | undefined)?.view ?? '?')
    for (const entry of tableList) {
      const [verb, db, table] = entry.split('::')
      if (verb === 'select' && db !== undefined && db !== 'null' && table !== undefined) this.#change('view', `CREATE VIEW ${view} reading`, { db, table })
    }
  }

  /**
   * A multi-table UPDATE changes the tables whose columns it sets: a qualified SET column
   * names its table (or alias); an unqualified one may belong to any of them, so all count.
   */
  #updateTargets(ast: Record<string, unknown>): void {
    const tables = entries(ast.table).filter((t) => typeof (t as { table?: unknown }).table === 'string') as TableRef[]
    const set = entries(ast.set) as { table?: unknown }[]
    const ambiguous = tables.length > 1 && set.some((s) => typeof s.table !== 'string')
    for (const t of tables) {
      const name = t.as ?? t.table
      if (ambiguous) this.#change('rows', 'UPDATE', t, ' (an unqualified SET column may belong to it; qualify SET columns with their table)')
      else if (tables.length === 1 || set.some((s) => s.table === name)) this.#change('rows', 'UPDATE', t)
    }
  }

  /** A multi-table DELETE names its targets by table or alias; resolve aliases against the FROM list. */
  #deleteTargets(ast: Record<string, unknown>): void {
    const from = entries(ast.from) as TableRef[]
    for (const target of entries(ast.table) as TableRef[]) {
      const source = databaseOf(target.db) === undefined ? from.find((f) => (f.as ?? f.table) === target.table) : undefined
      this.#change('rows', 'DELETE FROM', source ?? target)
    }
  }

  /**
   * SELECT ... FOR UPDATE takes the exclusive row (and gap) locks an UPDATE takes, held until the
   * transaction ends: on a shared table they stall every tenant's writes and locking reads of
   * those rows. Every table the query block reads in a named database counts (derived tables
   * and set-operation arms included: conservative), like a write. LOCK IN SHARE MODE stays allowed.
   */
  #lockingRead(select: Record<string, unknown>): void {
    for (const part of [select.from, select._next]) this.#tablesUnder(part, 'rows', 'SELECT ... FOR UPDATE (row locks) on')
  }

  /** Records every table reference under `value` (not column references), however deep, as a `change`. */
  #tablesUnder(value: unknown, change: MysqlChange['change'], statement: string): void {
    if (value === null || typeof value !== 'object') return
    if (Array.isArray(value)) {
      for (const item of value) this.#tablesUnder(item, change, statement)
      return
    }
    const o = value as Record<string, unknown>
    if (typeof o.table === 'string' && o.type !== 'column_ref') this.#change(change, statement, o)
    for (const v of Object.values(o)) this.#tablesUnder(v, change, statement)
  }

  #change(change: MysqlChange['change'], statement: string, ref: unknown, note = ''): void {
    const r = ref as TableRef | null | undefined
    const database = databaseOf(r?.db)
    const table = r?.table ?? r?.view
    if (database === undefined || typeof table !== 'string') return
    const object = `${database}.${table}${note}`
    if (this.changes.some((c) => c.change === change && c.statement === statement && c.object === object)) return
    this.changes.push({ change, statement, database, object })
  }

  node(value: unknown): void {
    if (this.refusal !== undefined || value === null || typeof value !== 'object') return
    if (Array.isArray(value)) {
      for (const v of value) this.node(v)
      return
    }
    const o = value as Record<string, unknown>
    if (o.db !== undefined && o.db !== null) this.#schema(o.db)
    if (o.schema !== undefined && o.schema !== null) this.#schema(o.schema)
    switch (o.type) {
      case 'var':
        if (o.prefix === '@') return this.refuse('session', `user variable @${String(o.name)} stays on the pooled connection`)
        if (o.prefix === '@@' && LAST_ID_VARIABLES.has(systemVariable(o))) return this.refuse('refused', LAST_ID)
        break
      case 'assign':
        return this.refuse('session', 'assigning a variable changes the connection\'s state')
      case 'function':
        this.#function(o)
        break
      case 'select':
        if (typeof o.locking_read === 'string' && /^\s*for\s+update\b/i.test(o.locking_read)) this.#lockingRead(o)
        break
      case 'into':
        if (o.keyword !== undefined && o.keyword !== null) return this.refuse('refused', `SELECT ... INTO ${String(o.keyword).toUpperCase()} writes outside the statement's result`)
        break
      case 'alter':
        if (o.resource === 'engine') this.#engine(o.engine)
        break
    }
    if (o.type === 'into' && o.expr !== undefined && o.expr !== null) return this.refuse('refused', 'SELECT ... INTO writes outside the statement\'s result')
    if (typeof o.keyword === 'string' && 'symbol' in o && 'value' in o) {
      const keyword = o.keyword.toLowerCase()
      if (keyword === 'engine') this.#engine(o.value)
      else if (REFUSED_TABLE_OPTIONS.has(keyword)) return this.refuse('refused', `table option ${keyword.toUpperCase()} reaches beyond the tenant's database`)
    }
    for (const v of Object.values(o)) if (v !== null && typeof v === 'object') this.node(v)
  }

  #schema(schema: unknown): void {
    if (typeof schema === 'string') this.databases.add(schema)
    else if (Array.isArray(schema)) for (const s of schema) this.#schema(s)
    else if (typeof schema === 'object' && typeof (schema as { value?: unknown }).value === 'string') this.databases.add((schema as { value: string }).value)
    else this.refuse('unverifiable', 'a database qualifier the guard cannot read')
  }

  #function(o: Record<string, unknown>): void {
    const parts = (o.name as { name?: Array<{ value?: unknown }> } | undefined)?.name
    const name = Array.isArray(parts) ? parts.map((p) => String(p?.value ?? '')).join('.').toLowerCase() : String(o.name ?? '').toLowerCase()
    const refused = REFUSED_FUNCTIONS.get(name)
    if (refused !== undefined) return this.refuse('refused', `${name.toUpperCase()}(): ${refused}`)
    const args = (o.args as { value?: unknown } | undefined)?.value
    if (name === 'last_insert_id' && Array.isArray(args) && args.length > 0) return this.refuse('session', 'LAST_INSERT_ID(expr) sets a value the pooled connection keeps')
    if (name === 'last_insert_id') return this.refuse('refused', LAST_ID)
    if (SEQUENCE_FUNCTIONS.has(name) && Array.isArray(args)) {
      const first = args[0] as { type?: unknown; table?: unknown; column?: unknown } | undefined
      // A backquoted database comes as `{ type: 'backticks_quote_string', value }`, a bare one as a string.
      const database = first?.type === 'column_ref' && first.table !== null && first.table !== undefined ? databaseOf(first.table) : undefined
      if (first?.type === 'column_ref' && first.table !== null && first.table !== undefined && database === undefined) {
        return this.refuse('unverifiable', `the sequence name in ${name.toUpperCase()}() has a database qualifier the guard cannot read`)
      }
      if (database !== undefined) {
        this.databases.add(database)
        // setval() rewinds or skips a sequence, nextval() consumes it: in a shared database, every
        // tenant's next ids change (or run out, for a sequence without CYCLE).
        if (name === 'setval' || name === 'nextval') {
          this.changes.push({ change: 'rows', statement: `${name.toUpperCase()}() on`, database, object: `${database}.${String(first!.column)}` })
        }
      }
    }
  }

  #engine(engine: unknown): void {
    const e = String(engine ?? '').toLowerCase()
    if (!SAFE_ENGINES.has(e)) this.refuse('refused', `storage engine ${e.toUpperCase() || '?'} can reach other databases, servers or files`)
  }
}

/** A table reference in node-sql-parser's tree: `db` may be a string or `{ value }`. */
interface TableRef {
  readonly db?: unknown
  readonly table?: string
  readonly view?: string
  readonly as?: string | null
}

/** A field that holds one reference or a list of them, as a list. */
function entries(value: unknown): unknown[] {
  if (Array.isArray(value)) return value.filter((v) => v !== null && v !== undefined)
  return value === null || value === undefined ? [] : [value]
}

function databaseOf(db: unknown): string | undefined {
  if (typeof db === 'string') return db
  const value = (db as { value?: unknown } | null | undefined)?.value
  return typeof value === 'string' ? value : undefined
}

/** Parses and analyses one statement text (the parsers must be loaded: {@link ensureMysqlParser}). */
export function analyzeMysqlStatement(sql: string): MysqlAnalysis {
  if (parsers === undefined) throw new Error('MySQL parser not loaded: await ensureMysqlParser() first')
  const lexical = scanMysqlText(sql)
  if (lexical !== undefined) return freeze([], { kind: 'unverifiable', reason: lexical })
  let parsed: { ast: unknown; tableList: string[] } | undefined
  let error: unknown
  // MySQL's grammar first, then MariaDB's (RETURNING, sequences): whichever reads it; both refused = unverifiable.
  for (const [parser, database] of [
    [parsers.mysql, 'mysql'],
    [parsers.mariadb, 'mariadb'],
  ] as const) {
    try {
      parsed = parser.parse(sql, { database })
      break
    } catch (err) {
      error ??= err
    }
  }
  if (parsed === undefined) {
    const message = error instanceof Error ? error.message.split('\n')[0]!.slice(0, 200) : String(error)
    return freeze([], { kind: 'unverifiable', reason: `the MySQL parser cannot read it: ${message}` })
  }
  const statements = (Array.isArray(parsed.ast) ? parsed.ast : [parsed.ast]).filter((s) => s !== null && s !== undefined)
  if (statements.length !== 1) {
    return freeze([], { kind: 'refused', reason: `the text holds ${statements.length} statements; schema routing runs exactly one statement per call` })
  }
  const walker = new Walker()
  walker.statement(statements[0] as Record<string, unknown>)
  // The parser's own table list is a second witness ("type::db::table").
  walker.viewSources(statements[0] as Record<string, unknown>, parsed.tableList ?? [])
  for (const entry of parsed.tableList ?? []) {
    const db = entry.split('::')[1]
    if (db !== undefined && db !== 'null') walker.databases.add(db)
  }
  return freeze([...walker.databases], walker.refusal, walker.changes)
}

function freeze(databases: string[], refusal: MysqlRefusal | undefined, changes: readonly MysqlChange[] = []): MysqlAnalysis {
  return Object.freeze({
    databases: Object.freeze(databases),
    ...(refusal !== undefined ? { refusal: Object.freeze(refusal) } : {}),
    ...(changes.length > 0 ? { changes: Object.freeze(changes.map((c) => Object.freeze(c))) } : {}),
  })
}

/**
 * Throws the typed error for an analysis that names anything beyond `tenantDatabase` and
 * `shared`, or changes a shared database (rows only with `sharedWrites`).
 */
export function guardMysqlAnalyzed(analysis: MysqlAnalysis, tenantDatabase: string, shared: ReadonlySet<string>, options: { readonly sharedWrites?: boolean } = {}): void {
  const r = analysis.refusal
  if (r !== undefined) {
    if (r.kind === 'unverifiable') throw new UnverifiableStatementError(r.reason, tenantDatabase)
    if (r.kind === 'session') {
      throw new TenantIsolationError(r.reason, tenantDatabase, `Statement changes session state (${r.reason}); schema routing refuses it.`)
    }
    throw new TenantIsolationError(r.reason, tenantDatabase, `Statement refused under schema routing: ${r.reason}.`)
  }
  for (const db of analysis.databases) {
    if (db !== tenantDatabase && !shared.has(db)) {
      throw new TenantIsolationError(db, tenantDatabase, `Statement references database '${db}', but this context may only use '${tenantDatabase}' and the shared databases.`)
    }
  }
  if (analysis.changes === undefined) return
  for (const c of analysis.changes) {
    if (c.database === tenantDatabase || !shared.has(c.database) || (c.change !== 'structure' && options.sharedWrites === true)) continue
    throw sharedChangeError(c.change, c.statement, c.object, c.database, tenantDatabase, 'database')
  }
}

/**
 * mysql2 substitutes parameters into the text on the client: an object becomes
 * `` `key` = value `` pairs (keys may be `db.table.column`), and a value with `toSqlString`
 * goes in verbatim — text the guard never saw. Only plain values and arrays of them pass.
 */
export function guardMysqlParams(params: readonly unknown[], tenantDatabase: string): void {
  for (const p of params) {
    if (!plainParam(p, 0)) {
      throw new UnverifiableStatementError('a parameter that is an object would be expanded into SQL text by the driver; pass plain values', tenantDatabase)
    }
  }
}

function plainParam(p: unknown, depth: number): boolean {
  if (p === null || p === undefined) return true
  switch (typeof p) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
      return true
    case 'object':
      if (p instanceof Date || p instanceof Uint8Array) return typeof (p as { toSqlString?: unknown }).toSqlString !== 'function'
      if (Array.isArray(p)) return depth < 2 && p.every((v) => plainParam(v, depth + 1))
      return false
    default:
      return false
  }
}

/**
 * Guards statements for one set of shared databases, with analyses cached per statement text
 * in a bounded LRU, so a repeated statement costs one map lookup and a check of the (few)
 * databases it names — no reparse.
 */
export class MysqlGuard {
  readonly #analyses: Lru<string, MysqlAnalysis>
  readonly #options: { readonly sharedWrites?: boolean }

  /** `sharedWrites`: let DML write rows into the shared databases (never DDL); see the schema router's option. */
  constructor(readonly shared: ReadonlySet<string>, cacheSize = 5000, options: { readonly sharedWrites?: boolean } = {}) {
    this.#analyses = new Lru(cacheSize)
    this.#options = Object.freeze({ sharedWrites: options.sharedWrites === true })
  }

  get size(): number {
    return this.#analyses.size
  }

  /** Checks synchronously when the parser is loaded (always after the first call); else returns a promise. */
  check(sql: string, params: readonly unknown[], tenantDatabase: string): void | Promise<void> {
    const cached = this.#analyses.get(sql)
    if (cached !== undefined) return this.#guard(cached, params, tenantDatabase)
    if (!mysqlParserReady()) return ensureMysqlParser().then(() => this.check(sql, params, tenantDatabase))
    const analysis = analyzeMysqlStatement(sql)
    this.#analyses.set(sql, analysis)
    return this.#guard(analysis, params, tenantDatabase)
  }

  #guard(analysis: MysqlAnalysis, params: readonly unknown[], tenantDatabase: string): void {
    guardMysqlAnalyzed(analysis, tenantDatabase, this.shared, this.#options)
    if (params.length > 0) guardMysqlParams(params, tenantDatabase)
  }
}
