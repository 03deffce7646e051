import { parsePostgres } from './parser.js'

/** An unqualified table reference: where to insert a schema, and which table it names. */
export interface TableSlot {
  /** String index (not byte offset) of the reference's first character. */
  readonly index: number
  readonly table: string
}

/**
 * What schema routing needs to know about one statement text, computed once per text and
 * reused for every tenant: where its unqualified tables are, which schemas it names
 * explicitly, and whether qualifying it is enough to pin it to one schema.
 */
export interface StatementAnalysis {
  readonly slots: readonly TableSlot[]
  /** Every schema named explicitly anywhere (tables, functions, columns, types, regclass strings). */
  readonly schemas: ReadonlySet<string>
  /** Undefined when qualification pins every relation; otherwise why it cannot (use a transaction-local search_path). */
  readonly unqualifiable?: string
  /** A session-level change (SET search_path, SET ROLE, ...) that must never run on a pooled connection. */
  readonly sessionChange?: string
  /** Code the guard cannot see into (a DO block, a function body): it could name any schema, so it is refused. */
  readonly unverifiable?: string
}

/** DML targets: PostgreSQL never resolves these to a CTE (setTargetTable), so they are qualified even when a CTE has the same name. */
const DML_STATEMENTS = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt'])

const NO_CTES: ReadonlySet<string> = new Set()

/** Fields that spell an object's (possibly qualified) name as a list of strings. */
const NAME_LIST_KEYS = new Set(['objects', 'object', 'objname', 'typeName', 'names', 'funcname', 'defnames', 'domainname', 'collname', 'opclassname', 'opfamilyname', 'conversion_name'])

/** Statements whose body is code the parser does not look into. */
const OPAQUE_CODE = new Set(['DoStmt', 'CreateFunctionStmt', 'CreateTrigStmt', 'RuleStmt', 'CreateEventTrigStmt'])

/** Top-level statements whose every relation reference is a RangeVar the qualifier can see. */
const QUALIFIABLE = new Set([
  'SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'CreateStmt', 'IndexStmt',
  'AlterTableStmt', 'TruncateStmt', 'CreateTableAsStmt', 'ViewStmt', 'ExplainStmt',
])

/** Session state that would outlive the statement on a pooled connection. */
const SESSION_SETTINGS = new Set(['search_path', 'role', 'session_authorization', 'session authorization'])

/** Functions whose text arguments name relations or sequences, resolved through the search path. */
const RELATION_NAME_FUNCTIONS = new Set([
  'nextval', 'currval', 'setval', 'to_regclass', 'pg_relation_size', 'pg_total_relation_size', 'pg_table_size',
  'pg_indexes_size', 'has_table_privilege', 'has_column_privilege', 'has_sequence_privilege', 'pg_get_serial_sequence',
  'to_regnamespace', 'has_schema_privilege',
])

const REG_TYPES = new Set(['regclass', 'regnamespace', 'regproc', 'regprocedure', 'regtype'])

type Node = Record<string, unknown>

/** Splits `schema.name` (either part possibly double-quoted) as PostgreSQL would read it. */
function qualifiedNameParts(text: string): string[] {
  const parts: string[] = []
  const re = /\s*(?:"((?:[^"]|"")*)"|([^."\s]+))\s*(\.|$)/y
  let m: RegExpExecArray | null
  while (re.lastIndex < text.length && (m = re.exec(text))) {
    parts.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : (m[2] ?? '').toLowerCase())
    if (m[3] === '') break
  }
  return parts
}

function isRangeVar(node: unknown): boolean {
  const n = node as Node
  return typeof n.relname === 'string' && 'relpersistence' in n
}

function stringOf(node: unknown): string | undefined {
  return ((node as Node)?.String as { sval?: string } | undefined)?.sval
}

function constString(node: unknown): string | undefined {
  const c = (node as Node)?.A_Const as { sval?: { sval?: string } } | undefined
  return c?.sval?.sval
}

class Analyzer {
  readonly slots: { byte: number; table: string }[] = []
  readonly schemas = new Set<string>()
  unqualifiable: string | undefined
  sessionChange: string | undefined
  unverifiable: string | undefined

  statement(node: Node): void {
    const [type, body] = Object.entries(node)[0] ?? []
    if (!type || !body) return
    if (type === 'VariableSetStmt' || type === 'VariableShowStmt') {
      const name = String((body as Node).name ?? '').toLowerCase()
      if (type === 'VariableSetStmt' && (SESSION_SETTINGS.has(name) || (body as Node).kind === 'VAR_RESET_ALL')) {
        this.sessionChange = `SET ${name || 'ALL'}`
      }
    }
    if (!QUALIFIABLE.has(type)) this.unqualifiable ??= `${type} is not rewritten by the qualifier`
    if (OPAQUE_CODE.has(type)) this.unverifiable ??= `${type} carries code the guard cannot inspect`
    this.namedSchemas(type, body as Node)
    this.walk(node, new Set())
  }

  /**
   * Schemas named outside RangeVars: DROP/COMMENT/GRANT/ALTER ... SET SCHEMA/CREATE SCHEMA and
   * friends spell objects as lists of strings (`schema.name`) or name a schema outright.
   */
  namedSchemas(type: string, body: Node): void {
    const add = (name: unknown) => {
      if (typeof name === 'string' && name.length > 0) this.schemas.add(name)
    }
    const strings = (list: unknown): string[] => (Array.isArray(list) ? list.map(stringOf).filter((x): x is string => x !== undefined) : [])
    const objectType = String(body.removeType ?? body.objtype ?? body.objectType ?? body.renameType ?? '')
    if (type === 'CreateSchemaStmt') add(body.schemaname)
    if (type === 'AlterObjectSchemaStmt') add(body.newschema)
    if (objectType === 'OBJECT_SCHEMA') {
      // DROP SCHEMA x / GRANT ... ON SCHEMA x / ALTER SCHEMA x RENAME / COMMENT ON SCHEMA x
      for (const o of (body.objects as unknown[]) ?? []) add(stringOf(o))
      add(stringOf(body.object))
      if (type === 'RenameStmt') {
        add(body.subname)
        add(body.newname)
      }
    }
    if (type === 'GrantStmt' && body.targtype === 'ACL_TARGET_ALL_IN_SCHEMA') for (const o of (body.objects as unknown[]) ?? []) add(stringOf(o))
    if (type === 'ReindexStmt' && String(body.kind).includes('SCHEMA')) add(body.name)
    if (type === 'AlterDefaultPrivilegesStmt') {
      for (const opt of (body.options as Node[]) ?? []) {
        const def = opt.DefElem as Node | undefined
        if (def?.defname === 'schemas') for (const s of strings((def.arg as Node)?.List ? ((def.arg as Node).List as Node).items : def.arg)) add(s)
      }
    }
    if (type === 'CreateExtensionStmt') {
      for (const opt of (body.options as Node[]) ?? []) {
        const def = opt.DefElem as Node | undefined
        if (def?.defname === 'schema') add(stringOf(def.arg))
      }
    }
    // Qualified object names as string lists (DROP TABLE s.t, CREATE TYPE s.t, COMMENT ON COLUMN s.t.c ...);
    // only under keys that hold object names, so enum labels and option lists are not taken for schemas.
    const fromEnd = objectType === 'OBJECT_COLUMN' ? 3 : 2
    const visitLists = (value: unknown, key: string | undefined): void => {
      if (Array.isArray(value)) {
        const names = strings(value)
        if (key && NAME_LIST_KEYS.has(key) && names.length === value.length && names.length >= fromEnd) add(names[names.length - fromEnd])
        for (const v of value) visitLists(v, key)
        return
      }
      if (value === null || typeof value !== 'object') return
      for (const [k, v] of Object.entries(value as Node)) {
        if (k === 'List') visitLists((v as Node).items, key)
        else visitLists(v, /^[A-Z]/.test(k) ? key : k)
      }
    }
    if (!QUALIFIABLE.has(type)) visitLists(body, undefined)
  }

  walk(value: unknown, scope: ReadonlySet<string>): void {
    if (Array.isArray(value)) {
      for (const item of value) this.walk(item, scope)
      return
    }
    if (value === null || typeof value !== 'object') return
    for (const [key, child] of Object.entries(value as Node)) {
      if (child === null || typeof child !== 'object') continue
      // FOR UPDATE OF names tables as the FROM clause spells them; qualifying them would be a syntax error.
      if (key === 'lockedRels') continue
      if (DML_STATEMENTS.has(key) && (child as Node).relation && isRangeVar((child as Node).relation)) {
        const { relation, ...rest } = child as Node
        this.rangeVar(relation as Node, NO_CTES)
        this.walk({ [key]: rest }, scope)
        continue
      }
      // RangeVars come wrapped ({ RangeVar: {...} }) in lists, but bare in fields such as
      // InsertStmt.relation, IntoClause.rel, ViewStmt.view and a foreign key's pktable.
      if (key === 'RangeVar' || isRangeVar(child)) this.rangeVar(child as Node, scope)
      else if (key === 'FuncCall') this.funcCall(child as Node, scope)
      else if (key === 'ColumnRef') this.columnRef(child as Node)
      else if (key === 'TypeName' || key === 'typeName') this.typeName(child as Node)
      else if (key === 'TypeCast') this.typeCast(child as Node, scope)
      else if ((child as Node).withClause) this.withScope(child as Node, scope)
      else this.walk(child, scope)
    }
  }

  /** CTE names shadow tables: in the statement body, and inside CTE bodies per WITH RECURSIVE rules. */
  withScope(stmt: Node, scope: ReadonlySet<string>): void {
    const withClause = stmt.withClause as { ctes?: Node[]; recursive?: boolean }
    const ctes = (withClause.ctes ?? []).map((c) => c.CommonTableExpr as Node)
    const names = ctes.map((c) => String(c.ctename))
    ctes.forEach((cte, i) => {
      const visible = new Set([...scope, ...(withClause.recursive ? names : names.slice(0, i))])
      this.walk(cte.ctequery, visible)
    })
    const bodyScope = new Set([...scope, ...names])
    for (const [key, child] of Object.entries(stmt)) {
      if (key !== 'withClause') this.walk({ [key]: child }, bodyScope)
    }
  }

  rangeVar(rv: Node, scope: ReadonlySet<string>): void {
    const relname = String(rv.relname)
    // A temporary table lives in pg_temp; qualifying its creation with a schema is an error.
    if (rv.relpersistence === 't' && !rv.schemaname) this.unqualifiable ??= `temporary table ${relname}`
    if (rv.catalogname) this.schemas.add(String(rv.catalogname))
    if (rv.schemaname) this.schemas.add(String(rv.schemaname))
    else if (!scope.has(relname)) {
      if (typeof rv.location !== 'number' || rv.location < 0) this.unqualifiable ??= `no position for table ${relname}`
      else this.slots.push({ byte: rv.location, table: relname })
    }
    this.walk(rv.alias, scope)
  }

  funcCall(fc: Node, scope: ReadonlySet<string>): void {
    const names = ((fc.funcname as unknown[]) ?? []).map(stringOf).filter((s): s is string => s !== undefined)
    if (names.length > 1) this.schemas.add(names[0]!)
    const fn = names.at(-1)?.toLowerCase()
    if (fn === 'set_config') {
      // set_config('search_path', ..., false) is SET search_path by another name; a non-literal name could be anything.
      const setting = constString((fc.args as unknown[] | undefined)?.[0])?.toLowerCase()
      if (setting === undefined || SESSION_SETTINGS.has(setting)) this.sessionChange ??= `set_config(${setting ?? '?'})`
    }
    if (fn && RELATION_NAME_FUNCTIONS.has(fn)) {
      for (const arg of (fc.args as unknown[]) ?? []) {
        const text = constString(arg)
        if (text === undefined) continue
        const parts = qualifiedNameParts(text)
        if (parts.length > 1) this.schemas.add(parts[0]!)
        else this.unqualifiable ??= `${fn}('${text}') resolves a relation through the search path`
      }
    }
    this.walk(fc.args, scope)
    this.walk(fc.agg_filter, scope)
    this.walk(fc.agg_order, scope)
    this.walk(fc.over, scope)
  }

  columnRef(cr: Node): void {
    const fields = ((cr.fields as unknown[]) ?? []).map(stringOf)
    // schema.table.column (or catalog.schema.table.column): the schema is the part before the table.
    if (fields.length >= 3 && fields[fields.length - 3] !== undefined) this.schemas.add(fields[fields.length - 3]!)
  }

  typeName(tn: Node): void {
    const names = ((tn.names as unknown[]) ?? []).map(stringOf).filter((s): s is string => s !== undefined)
    if (names.length > 1) this.schemas.add(names[0]!)
  }

  typeCast(tc: Node, scope: ReadonlySet<string>): void {
    const typeNames = (((tc.typeName as Node)?.names as unknown[]) ?? []).map(stringOf)
    const target = typeNames.at(-1)
    const text = constString(tc.arg)
    if (target && REG_TYPES.has(target) && text !== undefined) {
      const parts = qualifiedNameParts(text)
      if (parts.length > 1) this.schemas.add(parts[0]!)
      else if (target === 'regclass') this.unqualifiable ??= `'${text}'::regclass resolves through the search path`
    }
    this.typeName((tc.typeName as Node) ?? {})
    this.walk(tc.arg, scope)
  }
}

/** Converts the parser's UTF-8 byte offsets into string indices. */
function byteToIndex(sql: string): (byte: number) => number {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(sql)) return (b) => b
  const bytes = Buffer.from(sql, 'utf8')
  return (b) => bytes.subarray(0, b).toString('utf8').length
}

/**
 * Rewrites `?` placeholders (outside strings, quoted names and comments) as `$1`, `$2`, ...
 * so PostgreSQL's grammar accepts the text, and maps positions back to the original.
 */
function numberQuestionMarks(sql: string): { text: string; toOriginal: (index: number) => number } {
  let text = ''
  const shifts: { at: number; delta: number }[] = []
  let n = 0
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i]!
    const skipTo = (end: number) => {
      text += sql.slice(i, end)
      i = end - 1
    }
    if (ch === "'" || ch === '"') {
      let j = i + 1
      while (j < sql.length && !(sql[j] === ch && sql[j + 1] !== ch)) j += sql[j] === ch ? 2 : 1
      skipTo(Math.min(j + 1, sql.length))
    } else if (ch === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i)
      skipTo(end < 0 ? sql.length : end)
    } else if (ch === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2)
      skipTo(end < 0 ? sql.length : end + 2)
    } else if (ch === '?') {
      const token = `$${++n}`
      shifts.push({ at: text.length + token.length, delta: token.length - 1 })
      text += token
    } else {
      text += ch
    }
  }
  return {
    text,
    toOriginal: (index) => index - shifts.filter((s) => s.at <= index).reduce((sum, s) => sum + s.delta, 0),
  }
}

/**
 * Parses `sql` with PostgreSQL's grammar and returns where its unqualified tables are and
 * which schemas it names. `?` placeholders (MySQL/SQLite style) are understood when asked
 * for. The parser must be loaded (`ensureParser`).
 */
export function analyzeStatement(sql: string, placeholders: 'numbered' | 'question' = 'numbered'): StatementAnalysis {
  const { text, toOriginal } = placeholders === 'question' ? numberQuestionMarks(sql) : { text: sql, toOriginal: (i: number) => i }
  const tree = parsePostgres(text)
  const a = new Analyzer()
  for (const raw of tree.stmts ?? []) if (raw.stmt) a.statement(raw.stmt as Node)
  const toIndex = byteToIndex(text)
  const slots = a.slots.map((s) => ({ index: toOriginal(toIndex(s.byte)), table: s.table })).sort((x, y) => x.index - y.index)
  return Object.freeze({
    slots: Object.freeze(slots),
    schemas: a.schemas,
    ...(a.unqualifiable !== undefined ? { unqualifiable: a.unqualifiable } : {}),
    ...(a.sessionChange !== undefined ? { sessionChange: a.sessionChange } : {}),
    ...(a.unverifiable !== undefined ? { unverifiable: a.unverifiable } : {}),
  })
}
