import { BUILTIN_FUNCTIONS, BUILTIN_TYPES, CATALOG_RELATIONS } from './builtins.js'
import { ChangeCollector, statementChanges, type ChangeTarget } from './change-targets.js'
import { CATALOG_SCHEMAS as CATALOG_SCHEMA_NAMES } from './guard.js'
import { parsePostgres } from './parser.js'

/** An unqualified table reference: where to insert a schema, and which table it names. */
export interface TableSlot {
  /** String index (not byte offset) of the reference's first character. */
  readonly index: number
  readonly table: string
  /** A pg_catalog relation named without its schema: qualified with `pg_catalog`, never the tenant's schema. */
  readonly catalog?: true
  /**
   * Qualified even where the rest of the statement resolves through the search path (the
   * `transaction` strategy): an object the statement changes (a DML or DDL target, setval's or nextval's
   * sequence, whose slot is inside its string literal), or a relation a view reads. Through the
   * search path they could resolve into a shared schema the guard was never told about.
   */
  readonly pinned?: true
}

/**
 * What schema routing needs to know about one statement text, computed once per text and
 * reused for every tenant: where its unqualified tables are, which schemas it names
 * explicitly, and whether qualifying it is enough to pin it to one schema.
 */
export interface StatementAnalysis {
  readonly slots: readonly TableSlot[]
  /** Every schema named explicitly anywhere (tables, functions, operators, columns, types, regclass strings). */
  readonly schemas: ReadonlySet<string>
  /** Undefined when qualification pins every relation; otherwise why it cannot (use a transaction-local search_path). */
  readonly unqualifiable?: string
  /**
   * Qualifying the tables is not enough on a search-path engine: an unqualified user-defined
   * function or type would resolve through the connection's default path (public), not the
   * tenant's. Such statements run with the transaction-local search path. Engines that reach
   * schemas only through qualified table names (SQLite's attached files) ignore this.
   */
  readonly searchPathDependent?: string
  /** A session-level change (SET search_path, SET ROLE, PREPARE, LISTEN, ...) that must never run on a pooled connection. */
  readonly sessionChange?: string
  /** Code the guard cannot see into (a DO block, a function body, SQL passed as text): it could name any schema, so it is refused. */
  readonly unverifiable?: string
  /** Why schema routing never runs this statement (transaction control, several statements, a data-leaking catalog, ...). */
  readonly refused?: string
  /**
   * Schemas the statement acts on as a whole (DROP/ALTER/COMMENT ON/GRANT ON SCHEMA x, GRANT ...
   * ON ALL TABLES IN SCHEMA x, REINDEX SCHEMA x): they must be the tenant's own, never a shared
   * schema or a catalog, which other tenants use too.
   */
  readonly wholeSchemas?: ReadonlySet<string>
  /**
   * What the statement creates, alters, drops, truncates or writes rows into (anywhere, CTEs
   * included), for the guard to refuse when it lands in a shared schema. Absent when nothing.
   */
  readonly changes?: readonly ChangeTarget[]
}

/**
 * Fields holding a possibly qualified object name as a list of strings, inside statements the
 * qualifier rewrites: ORDER BY ... USING OPERATOR(s.<) (useOp), x OPERATOR(s.=) ANY (...)
 * (operName), COLLATE s.c (collname), an index column's operator class and collation, and
 * TABLESAMPLE s.method.
 */
const QUALIFIED_NAME_FIELDS = new Set(['useOp', 'operName', 'collname', 'opclass', 'collation', 'method'])

/**
 * Fields holding a TypeName node bare (not wrapped as `{ TypeName }`): a column's type, a
 * cast's, and CREATE TABLE ... OF type (ofTypename).
 */
const TYPE_NAME_FIELDS = new Set(['TypeName', 'typeName', 'ofTypename'])

/**
 * Fields holding an IntoClause: SELECT ... INTO and CREATE TABLE AS. PostgreSQL never resolves
 * the table they create to a CTE, so, like DML targets, it is qualified whatever CTE is in scope.
 */
const INTO_FIELDS: Readonly<Record<string, string>> = { intoClause: 'SELECT INTO', into: 'CREATE TABLE AS' }

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

/**
 * The statement types a schema-routed context may run: an allow-list, so a statement kind
 * nobody thought about (or a new one in a later PostgreSQL) is refused rather than trusted.
 * Everything here acts on objects inside schemas, whose names the guard checks; cluster- or
 * session-wide statements (roles, databases, ALTER SYSTEM, LISTEN, PREPARE, DISCARD, LOAD,
 * transaction control) are absent and belong outside tenant contexts (or in migrations).
 * NOTIFY is absent too: a channel is database-wide, any session (another tenant's) may LISTEN on it.
 * VariableSetStmt, DeclareCursorStmt and CopyStmt are allowed only in their harmless forms;
 * VACUUM, ANALYZE, CLUSTER and REINDEX only on named tables or indexes (or REINDEX SCHEMA of
 * the tenant's own schema): without them they act on the whole database.
 */
const ROUTABLE_STATEMENTS = new Set([
  ...QUALIFIABLE,
  'CallStmt', 'CopyStmt', 'DeclareCursorStmt', 'FetchStmt', 'ClosePortalStmt', 'LockStmt',
  'VariableShowStmt', 'VariableSetStmt', 'ConstraintsSetStmt',
  'DropStmt', 'CommentStmt', 'RenameStmt', 'AlterObjectSchemaStmt', 'AlterOwnerStmt', 'GrantStmt',
  'CreateSeqStmt', 'AlterSeqStmt', 'CreateEnumStmt', 'AlterEnumStmt', 'CompositeTypeStmt', 'CreateDomainStmt',
  'AlterDomainStmt', 'DefineStmt', 'AlterTypeStmt', 'RefreshMatViewStmt', 'CreateStatsStmt', 'AlterStatsStmt',
  'CreatePolicyStmt', 'AlterPolicyStmt', 'VacuumStmt', 'ReindexStmt', 'ClusterStmt', 'CreateSchemaStmt',
  'AlterFunctionStmt',
  // Refused below with a more precise reason (code the guard cannot read).
  ...OPAQUE_CODE,
])

/**
 * Object kinds that live outside any schema (database- or cluster-wide): DROP, COMMENT, GRANT,
 * RENAME, OWNER TO and SET SCHEMA on them are refused even though those statements are allowed
 * on schema objects.
 */
const GLOBAL_OBJECTS = new Set([
  'OBJECT_DATABASE', 'OBJECT_TABLESPACE', 'OBJECT_ROLE', 'OBJECT_LANGUAGE', 'OBJECT_EXTENSION', 'OBJECT_FDW',
  'OBJECT_FOREIGN_SERVER', 'OBJECT_USER_MAPPING', 'OBJECT_EVENT_TRIGGER', 'OBJECT_PUBLICATION', 'OBJECT_PUBLICATION_NAMESPACE',
  'OBJECT_PUBLICATION_REL', 'OBJECT_SUBSCRIPTION', 'OBJECT_ACCESS_METHOD', 'OBJECT_CAST', 'OBJECT_TRANSFORM', 'OBJECT_LARGEOBJECT',
  'OBJECT_PARAMETER_ACL',
])

/** Statements that change the session (or the whole cluster's settings) rather than data. */
const SESSION_STATEMENTS: Readonly<Record<string, string>> = {
  DiscardStmt: 'DISCARD',
  PrepareStmt: 'PREPARE',
  DeallocateStmt: 'DEALLOCATE',
  ListenStmt: 'LISTEN',
  UnlistenStmt: 'UNLISTEN',
  LoadStmt: 'LOAD',
  AlterSystemStmt: 'ALTER SYSTEM',
  AlterRoleSetStmt: 'ALTER ROLE ... SET',
  AlterDatabaseSetStmt: 'ALTER DATABASE ... SET',
  AlterRoleStmt: 'ALTER ROLE',
}

/**
 * DML whose target is the statement's `relation`, with the verb for messages. A write into a
 * catalog relation is never a tenant's business: `update pg_settings set setting = ...` runs
 * pg_settings' rule, `set_config(name, value, false)`, a session-level setting (search_path,
 * role) left on the pooled connection; the other catalogs are shared by every tenant.
 */
const DML_VERBS: Readonly<Record<string, string>> = { InsertStmt: 'INSERT INTO', UpdateStmt: 'UPDATE', DeleteStmt: 'DELETE FROM', MergeStmt: 'MERGE INTO' }

/** Statements that create or change the relation in the given field: their target must not be a catalog relation. */
const RELATION_TARGETS: Readonly<Record<string, readonly string[]>> = {
  CreateStmt: ['relation'], IndexStmt: ['relation'], AlterTableStmt: ['relation'], ViewStmt: ['view'], CreateSeqStmt: ['sequence'],
  AlterSeqStmt: ['sequence'], RenameStmt: ['relation'], AlterObjectSchemaStmt: ['relation'], RefreshMatViewStmt: ['relation'],
  CreatePolicyStmt: ['table'], AlterPolicyStmt: ['table'], CompositeTypeStmt: ['typevar'],
}

/** Statements that create or change the object named (as a list of strings or a node holding one) in the given fields. */
const OBJECT_TARGETS: Readonly<Record<string, readonly string[]>> = {
  DropStmt: ['objects'], CommentStmt: ['object'], AlterOwnerStmt: ['object'], RenameStmt: ['object'], AlterObjectSchemaStmt: ['object'],
  GrantStmt: ['objects'], AlterFunctionStmt: ['func'], AlterTypeStmt: ['typeName'], AlterEnumStmt: ['typeName'], AlterDomainStmt: ['typeName'],
  CreateEnumStmt: ['typeName'], CreateDomainStmt: ['domainname'], DefineStmt: ['defnames'], AlterStatsStmt: ['defnames'], CreateStatsStmt: ['defnames'],
}

/** Settings that decide which schema or role a statement runs as. */
const SESSION_SETTINGS = new Set(['search_path', 'role', 'session_authorization', 'session authorization'])

/**
 * Functions refused under schema routing, by name. They run SQL handed over as text
 * (`query_to_xml`, `dblink`, `ts_stat`, `crosstab`), dump whole tables, schemas or the
 * database (`table_to_xml`, `schema_to_xml`, `database_to_xml`), read server files or other
 * sessions (`pg_read_file`, `pg_ls_dir`, `pg_stat_get_activity`), reach database-wide objects
 * no schema owns (large objects: `lo_get`, `loread`), or act on other sessions
 * (`pg_terminate_backend`). A deny-list, deliberately: an allow-list of the ~3,000 built-ins
 * plus every extension's functions is not maintainable, and a tenant's own functions must
 * stay callable. Functions that take a relation name are handled separately
 * ({@link RELATION_ARGUMENT}); `current_setting` only reads settings and is allowed, and
 * `set_config` is allowed only transaction-locally for settings that do not pick a schema or role.
 */
const REFUSED_FUNCTIONS = new Set([
  'query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema', 'table_to_xml', 'table_to_xmlschema',
  'table_to_xml_and_xmlschema', 'cursor_to_xml', 'cursor_to_xmlschema', 'schema_to_xml', 'schema_to_xmlschema',
  'schema_to_xml_and_xmlschema', 'database_to_xml', 'database_to_xmlschema', 'database_to_xml_and_xmlschema',
  'ts_stat', 'connectby', 'get_raw_page', 'loread', 'lowrite', 'pg_read_file', 'pg_read_binary_file', 'pg_stat_file',
  'pg_lock_status', 'pg_cancel_backend', 'pg_terminate_backend', 'pg_reload_conf', 'pg_rotate_logfile', 'pg_current_logfile',
  'pg_get_backend_memory_contexts', 'pg_log_backend_memory_contexts', 'pg_export_snapshot', 'pg_hba_file_rules',
  'pg_show_all_file_settings', 'pg_drop_replication_slot', 'pg_switch_wal', 'pg_promote',
])
/**
 * Functions that read what the connection's earlier statements left behind, which on a pooled
 * (PostgreSQL) or shared (SQLite) connection can be another tenant's: the last id generated,
 * the rows last changed. Only their built-in, argument-less forms.
 */
const CONNECTION_LEFTOVERS: ReadonlyMap<string, string> = new Map([
  ['lastval', "returns the last id any sequence gave this pooled connection, possibly another tenant's; use INSERT ... RETURNING or currval('<sequence>')"],
  ['last_insert_rowid', "returns the last rowid this shared SQLite connection inserted, possibly another tenant's; read the INSERT result's insertId or use RETURNING"],
  ['changes', "counts rows changed on this shared SQLite connection, possibly by another tenant; read the statement result's rowCount"],
  ['total_changes', "counts rows changed on this shared SQLite connection, possibly by another tenant; read the statement result's rowCount"],
])
/**
 * Session-level advisory locks belong to the connection, not the statement: a lock taken stays
 * held by the pooled connection after it is returned (blocking whoever asks next, any tenant),
 * and an unlock may release one another tenant's statement took there. The `_xact_` variants
 * end with the transaction and stay allowed.
 */
const SESSION_ADVISORY_LOCKS = new Set([
  'pg_advisory_lock', 'pg_advisory_lock_shared', 'pg_try_advisory_lock', 'pg_try_advisory_lock_shared',
  'pg_advisory_unlock', 'pg_advisory_unlock_shared', 'pg_advisory_unlock_all',
])
/** Families of the above, by prefix: dblink*, crosstab*, lo_*, pg_ls_*, pg_stat_* (activity, statements), pg_logical_*, pg_replication_*, pg_file_* (adminpack). */
const REFUSED_FUNCTION_PREFIX = /^(?:dblink|crosstab|lo_|pg_ls_|pg_stat_|pg_statio_|pg_logical_|pg_replication_|pg_create_\w*replication_slot|pg_file_)/

/**
 * Catalog relations whose rows are other tenants' data rather than metadata: column
 * statistics (`most_common_vals` holds real values), sequences' last values, other sessions'
 * query text, large objects, connection strings and credentials. The rest of pg_catalog (names, types,
 * columns) stays readable. Refused whatever schema names them.
 */
const LEAKY_CATALOG_RELATIONS = new Set([
  'pg_statistic', 'pg_stats', 'pg_stats_ext', 'pg_stats_ext_exprs', 'pg_statistic_ext_data', 'pg_stat_activity',
  'pg_stat_statements', 'pg_stat_statements_info', 'pg_locks', 'pg_largeobject', 'pg_prepared_xacts', 'pg_stat_replication',
  'pg_stat_wal_receiver', 'pg_stat_subscription', 'pg_subscription', 'pg_user_mapping', 'pg_user_mappings', 'pg_authid',
  'pg_shadow', 'pg_replication_slots', 'pg_hba_file_rules', 'pg_file_settings', 'pg_backend_memory_contexts', 'pg_sequences',
])
/**
 * The statistics views, by prefix (pg_stat_user_tables, pg_statio_all_indexes, ...): live and
 * dead row counts, scans and block reads of every tenant's tables, the same numbers the
 * refused pg_stat_* functions return. pg_sequences (above) shows every sequence's last value.
 */
const LEAKY_CATALOG_PREFIX = /^pg_stat(?:io)?_/

/** Whether a relation of this name, in whatever schema, holds other tenants' data (see {@link LEAKY_CATALOG_RELATIONS}). */
export function isLeakyCatalogRelation(relname: string): boolean {
  return LEAKY_CATALOG_RELATIONS.has(relname) || LEAKY_CATALOG_PREFIX.test(relname)
}

/** Which argument names a relation, schema, function or type as text, by argument count. */
type ArgumentPosition = (argCount: number) => number
const FIRST: ArgumentPosition = () => 0
/** `has_table_privilege([user,] table, privilege)`: the object is second when a user is given. */
const afterOptionalUser =
  (withoutUser: number): ArgumentPosition =>
  (n) =>
    n > withoutUser ? 1 : 0

/**
 * Functions whose text (or regclass) argument names a relation, sequence, schema, function
 * or type and is resolved at run time. A literal argument has its schema checked like a
 * table reference; anything else (a concatenation, a parameter, a column, an oid) could name
 * any tenant's object, so it is refused. Generated from pg_proc's regclass-taking functions
 * plus the text-taking `to_reg*` and `has_*_privilege` families.
 */
const RELATION_ARGUMENT: ReadonlyMap<string, ArgumentPosition> = new Map([
  ...[
    'nextval', 'currval', 'setval', 'to_regclass', 'to_regnamespace', 'to_regtype', 'to_regproc', 'to_regprocedure', 'to_regoper',
    'to_regoperator', 'to_regcollation', 'pg_relation_size', 'pg_total_relation_size', 'pg_table_size', 'pg_indexes_size',
    'pg_relation_filenode', 'pg_relation_filepath', 'pg_partition_tree', 'pg_partition_root', 'pg_partition_ancestors',
    'pg_sequence_last_value', 'pg_get_serial_sequence', 'pg_get_replica_identity_index', 'pg_relation_is_updatable',
    'pg_column_is_updatable', 'pg_index_has_property', 'pg_index_column_has_property', 'pg_relation_is_publishable',
    'brin_summarize_new_values', 'brin_summarize_range', 'brin_desummarize_range', 'gin_clean_pending_list',
    'pg_extension_config_dump', 'pgstattuple', 'pgstatindex', 'pg_prewarm', 'pg_get_viewdef',
  ].map((f) => [f, FIRST] as const),
  ...['has_table_privilege', 'has_sequence_privilege', 'has_any_column_privilege', 'has_schema_privilege', 'has_function_privilege', 'has_type_privilege'].map(
    (f) => [f, afterOptionalUser(2)] as const,
  ),
  ['has_column_privilege', afterOptionalUser(3)],
])

/** Of those, the functions whose name argument is a schema rather than an object in one. */
const SCHEMA_ARGUMENT = new Set(['to_regnamespace', 'has_schema_privilege'])

/** Casts whose literal names an object, resolved through the search path when unqualified. */
const REG_TYPES = new Set(['regclass', 'regnamespace', 'regproc', 'regprocedure', 'regtype', 'regoper', 'regoperator', 'regconfig', 'regdictionary', 'regcollation'])

/** LockingClause strengths that take UPDATE's row locks (blocking FOR KEY SHARE, i.e. foreign-key checks, and writes). */
const EXCLUSIVE_ROW_LOCKS: Readonly<Record<string, string>> = { LCS_FORUPDATE: 'FOR UPDATE', LCS_FORNOKEYUPDATE: 'FOR NO KEY UPDATE' }

/** `scope` plus the CTE names a SELECT's own WITH clause defines. */
function withNames(select: Node, scope: ReadonlySet<string>): ReadonlySet<string> {
  const ctes = ((select.withClause as Node | undefined)?.ctes as Node[] | undefined) ?? []
  return ctes.length === 0 ? scope : new Set([...scope, ...ctes.map((c) => String((c.CommonTableExpr as Node | undefined)?.ctename))])
}

function aliasName(node: Node | undefined): string | undefined {
  const name = (node?.alias as Node | undefined)?.aliasname
  return typeof name === 'string' ? name : undefined
}

/** A SELECT's FROM items as `FOR UPDATE OF` names them: relations by alias or name, subqueries and aliased joins by alias; joins flattened. */
function fromItems(select: Node): { name: string | undefined; node: Node }[] {
  const out: { name: string | undefined; node: Node }[] = []
  const visit = (item: unknown): void => {
    const n = item as Node | undefined
    if (!n || typeof n !== 'object') return
    const rv = (n.RangeVar as Node | undefined) ?? (isRangeVar(n) ? n : undefined)
    if (rv !== undefined) {
      out.push({ name: aliasName(rv) ?? String(rv.relname), node: { RangeVar: rv } })
      return
    }
    const join = n.JoinExpr as Node | undefined
    if (join !== undefined) {
      if (aliasName(join) !== undefined) out.push({ name: aliasName(join), node: n })
      visit(join.larg)
      visit(join.rarg)
      return
    }
    out.push({ name: aliasName(n.RangeSubselect as Node | undefined) ?? aliasName(n.RangeFunction as Node | undefined), node: n })
  }
  for (const item of (select.fromClause as unknown[] | undefined) ?? []) visit(item)
  return out
}

/** The relations a locking clause on a FROM item locks: a relation, both sides of a join, the FROM of a subquery (PostgreSQL propagates the lock into it). */
function lockedRelations(item: Node, scope: ReadonlySet<string>): { rv: Node; scope: ReadonlySet<string> }[] {
  const rv = (item.RangeVar as Node | undefined) ?? (isRangeVar(item) ? item : undefined)
  if (rv !== undefined) return [{ rv, scope }]
  const join = item.JoinExpr as Node | undefined
  if (join !== undefined) return [join.larg, join.rarg].flatMap((side) => (side && typeof side === 'object' ? lockedRelations(side as Node, scope) : []))
  const sub = (item.RangeSubselect as Node | undefined)?.subquery as Node | undefined
  const select = (sub?.SelectStmt as Node | undefined) ?? (item.SelectStmt as Node | undefined) ?? (Array.isArray(item.fromClause) || item.larg ? item : undefined)
  if (select === undefined) return []
  const inner = withNames(select, scope)
  const arms = [select.larg, select.rarg].filter((a): a is Node => a !== null && typeof a === 'object')
  return [...arms.flatMap((arm) => lockedRelations(arm, inner)), ...((select.fromClause as Node[] | undefined) ?? []).flatMap((f) => lockedRelations(f, inner))]
}

/** `DECLARE ... WITH HOLD` (CURSOR_OPT_HOLD): the cursor outlives the transaction on the pooled connection. */
const CURSOR_OPT_HOLD = 0x20

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

function strings(list: unknown): string[] {
  return Array.isArray(list) ? list.map(stringOf).filter((x): x is string => x !== undefined) : []
}

/** The items of a `{ List: { items } }` node; empty for anything else. */
function listItems(node: unknown): unknown[] {
  const items = ((node as Node | undefined)?.List as Node | undefined)?.items
  return Array.isArray(items) ? items : []
}

function constString(node: unknown): string | undefined {
  const c = (node as Node)?.A_Const as { sval?: { sval?: string } } | undefined
  return c?.sval?.sval
}

/** A string literal, possibly cast (`'s.t'`, `'s.t'::text`, `'s.t'::regclass`). */
function literalText(node: unknown): string | undefined {
  const direct = constString(node)
  if (direct !== undefined) return direct
  const cast = (node as Node)?.TypeCast as Node | undefined
  return cast ? literalText(cast.arg) : undefined
}

function isTrueConst(node: unknown): boolean {
  const c = (node as Node)?.A_Const as { boolval?: { boolval?: boolean }; sval?: { sval?: string } } | undefined
  if (c?.boolval) return c.boolval.boolval === true
  return ['true', 't', 'on', 'yes', '1'].includes(c?.sval?.sval?.toLowerCase() ?? '')
}

/** The schema of a possibly catalog-qualified name list (`s.x`, `db.s.x`); undefined when unqualified. */
function schemaOfNameList(names: readonly string[]): string | undefined {
  return names.length >= 2 ? names[names.length - 2] : undefined
}

/**
 * The schema an object reference names explicitly, in the shapes DDL statements spell one:
 * a list of strings (`s.t`), a `{ List }`, `ObjectWithArgs` (functions), `TypeName` or a RangeVar.
 * `fromEnd` is 3 for a column (`s.t.c`).
 */
function schemaOfObject(node: unknown, fromEnd = 2): string | undefined {
  if (Array.isArray(node)) {
    const names = strings(node)
    return names.length === node.length && names.length >= fromEnd ? names[names.length - fromEnd] : undefined
  }
  const n = node as Node | undefined
  if (!n || typeof n !== 'object') return undefined
  if (isRangeVar(n)) return typeof n.schemaname === 'string' ? n.schemaname : undefined
  if (n.RangeVar) return schemaOfObject(n.RangeVar)
  if (n.List) return schemaOfObject((n.List as Node).items, fromEnd)
  if (n.ObjectWithArgs) return schemaOfObject(n.ObjectWithArgs)
  if (Array.isArray(n.objname)) return schemaOfObject(n.objname)
  if (n.TypeName) return schemaOfObject((n.TypeName as Node).names)
  if (Array.isArray(n.names)) return schemaOfObject(n.names)
  return undefined
}

/** A slot as the parser reports it: a UTF-8 byte offset; `literal`: the offset of the string literal whose text the name is. */
interface RawSlot {
  readonly byte: number
  readonly table: string
  readonly catalog?: true
  readonly pinned?: true
  readonly literal?: true
}

class Analyzer {
  readonly slots: RawSlot[] = []
  readonly schemas = new Set<string>()
  unqualifiable: string | undefined
  searchPathDependent: string | undefined
  sessionChange: string | undefined
  unverifiable: string | undefined
  refused: string | undefined
  readonly wholeSchemas = new Set<string>()
  readonly collector = new ChangeCollector()
  /** Change targets that have a pinned slot: qualifying the statement pins them. */
  readonly slotted = new Set<ChangeTarget>()
  /** While walking a view's query: the view's name, for messages. */
  view: string | undefined
  /** The first catalog relation the statement reads, if any (`pg_catalog.pg_settings`). */
  catalogRead: string | undefined
  /** The temporary relation this statement creates, if any. */
  temporary: string | undefined

  statement(node: Node): void {
    const [type, body] = Object.entries(node)[0] ?? []
    if (!type || !body) return
    const b = body as Node
    this.statementKind(type, b)
    statementChanges(type, b, this.collector)
    if (this.collector.unreadable !== undefined) this.refused ??= this.collector.unreadable
    if (!QUALIFIABLE.has(type)) this.unqualifiable ??= `${type} is not rewritten by the qualifier`
    if (OPAQUE_CODE.has(type)) this.unverifiable ??= `${type} carries code the guard cannot inspect`
    this.namedSchemas(type, b)
    this.walk(node, new Set())
    if (type === 'ViewStmt' && this.catalogRead !== undefined) {
      // A simple view is automatically updatable, and writes through to what it reads: `update v` on a
      // view over pg_settings runs pg_settings' set_config rule; over a catalog table, it writes the catalog.
      this.refused ??= `a view reading catalog relation ${this.catalogRead} would let writes through the view reach the catalog`
    }
    // Safety net: an unqualified change the qualifier cannot pin (no slot) must make the router use the search path.
    const unslotted = this.changes.find((c) => c.schema === undefined && !this.slotted.has(c))
    if (unslotted !== undefined) this.unqualifiable ??= `${unslotted.statement} ${unslotted.object} has no table reference the qualifier can pin`
    if (this.temporary !== undefined && !dropsOnCommit(type, b)) {
      // A temporary object outlives the statement on the pooled connection, where the next
      // tenant's unqualified name could find it; ON COMMIT DROP tables end with their transaction.
      this.sessionChange ??= `temporary object ${this.temporary} (only CREATE TEMP TABLE ... ON COMMIT DROP is allowed)`
    }
  }

  get changes(): ChangeTarget[] {
    return this.collector.changes
  }

  /** Refuses statement kinds that act on the session, the cluster or the transaction. */
  statementKind(type: string, body: Node): void {
    if (type === 'TransactionStmt') {
      const kind = String(body.kind ?? '').replace(/^TRANS_STMT_/, '')
      this.refused ??= `transaction control (${kind}) would end the transaction that carries the tenant's search path; use sy.transaction()`
      return
    }
    const session = SESSION_STATEMENTS[type]
    if (session !== undefined) {
      this.sessionChange ??= session
      return
    }
    if (type === 'ExecuteStmt') {
      this.unverifiable ??= 'EXECUTE runs a prepared statement the guard never saw'
      return
    }
    if (!ROUTABLE_STATEMENTS.has(type)) {
      this.refused ??= `${type} is not allowed in a schema-routed statement (it is not confined to a schema); run it outside a tenant context or as a migration`
      return
    }
    const objectType = String(body.removeType ?? body.objtype ?? body.objectType ?? body.renameType ?? '')
    if (GLOBAL_OBJECTS.has(objectType)) {
      this.refused ??= `${type} on ${objectType.replace(/^OBJECT_/, '').toLowerCase().replace(/_/g, ' ')} objects reaches beyond the tenant's schema`
    }
    // CREATE SCHEMA AUTHORIZATION role names the schema after the role, which the guard cannot check.
    if (type === 'CreateSchemaStmt' && !body.schemaname) this.refused ??= 'CREATE SCHEMA without a schema name'
    if (type === 'VariableSetStmt') {
      const name = String(body.name ?? '').toLowerCase()
      // SET TRANSACTION ... and SET LOCAL end with the transaction; anything else stays on the connection.
      const transactionOnly = (body.kind === 'VAR_SET_MULTI' && name === 'transaction') || (body.is_local === true && body.kind === 'VAR_SET_VALUE')
      if (!transactionOnly || SESSION_SETTINGS.has(name)) {
        const verb = String(body.kind).startsWith('VAR_RESET') ? 'RESET' : 'SET'
        this.sessionChange ??= `${verb} ${name || 'ALL'}${transactionOnly ? '' : ' (use SET LOCAL inside a transaction)'}`
      }
    }
    if (type === 'AlterFunctionStmt') this.functionActions(body)
    if (type === 'DeclareCursorStmt' && (Number(body.options ?? 0) & CURSOR_OPT_HOLD) !== 0) this.sessionChange ??= 'DECLARE ... WITH HOLD'
    if (type === 'CopyStmt' && (body.filename !== undefined || body.is_program === true)) {
      this.refused ??= 'COPY to or from a server file or program reaches outside the database; use COPY ... FROM STDIN / TO STDOUT'
    }
    this.catalogTargets(type, body)
    this.databaseWide(type, body)
  }

  /**
   * ALTER FUNCTION / PROCEDURE / ROUTINE actions that change what a body the guard never read
   * runs with: `SET search_path = tenant_b` points its unqualified names at another tenant's
   * schema on every later call, RESET drops the setting a migration pinned, SECURITY DEFINER
   * runs it with its owner's rights, SUPPORT attaches a planner function (C code) named
   * nowhere the guard looks. Volatility, cost, RENAME, OWNER TO and the like stay allowed.
   */
  functionActions(body: Node): void {
    const kind = String(body.objtype ?? 'OBJECT_FUNCTION').replace(/^OBJECT_/, '')
    for (const action of (body.actions as Node[] | undefined) ?? []) {
      const refused = refusedFunctionAction(action.DefElem as Node | undefined)
      if (refused !== undefined) this.unverifiable ??= `ALTER ${kind} ... ${refused} changes how a function body the guard cannot inspect runs`
    }
  }

  /**
   * Refuses writes into the catalogs: DML and SELECT INTO / CREATE TABLE AS (wherever they sit, see walk), COPY FROM, TRUNCATE,
   * and DDL creating, changing or dropping an object in pg_catalog or information_schema.
   */
  catalogTargets(type: string, body: Node): void {
    if (type === 'CopyStmt' && body.is_from === true && body.relation) this.catalogWrite(body.relation as Node, 'COPY ... FROM into')
    if (type === 'TruncateStmt') for (const r of (body.relations as Node[]) ?? []) this.catalogWrite((r.RangeVar as Node) ?? r, 'TRUNCATE')
    for (const field of RELATION_TARGETS[type] ?? []) if (body[field]) this.catalogWrite(body[field] as Node, type)
    for (const field of OBJECT_TARGETS[type] ?? []) {
      const value = body[field]
      // DROP and GRANT take a list of objects; the others one object (itself possibly a list of strings).
      const objects = (type === 'DropStmt' || type === 'GrantStmt') && Array.isArray(value) ? value : [value]
      const fromEnd = String(body.objtype ?? body.objectType ?? body.renameType ?? body.removeType ?? '') === 'OBJECT_COLUMN' ? 3 : 2
      for (const o of objects) {
        const schema = schemaOfObject(o, fromEnd)
        if (schema !== undefined && CATALOG_SCHEMA_NAMES.has(schema)) this.refused ??= `${type} on an object in ${schema}, which every tenant shares`
      }
    }
    if (type === 'AlterObjectSchemaStmt' && CATALOG_SCHEMA_NAMES.has(String(body.newschema))) {
      this.refused ??= `SET SCHEMA ${String(body.newschema)} moves an object into a catalog schema every tenant can read`
    }
  }

  /** A write into `rv`: refused when it is a catalog relation (qualified so, or an unqualified catalog name the qualifier pins to pg_catalog). */
  catalogWrite(rv: Node, verb: string): void {
    const relname = String(rv.relname)
    const schema = typeof rv.schemaname === 'string' ? rv.schemaname : CATALOG_RELATIONS.has(relname) ? 'pg_catalog' : undefined
    if (schema === undefined || !CATALOG_SCHEMA_NAMES.has(schema)) return
    if (schema === 'pg_catalog' && relname === 'pg_settings') {
      this.sessionChange ??= `${verb} pg_catalog.pg_settings (its rules call set_config(name, value, false): a session-level setting such as search_path or role left on the pooled connection)`
    } else {
      this.refused ??= `${verb} ${schema}.${relname} writes to a catalog relation, which every tenant shares`
    }
  }

  /**
   * Maintenance statements act on the whole database unless they name their tables: VACUUM
   * [FULL] / ANALYZE without a table list, CLUSTER without a table, REINDEX DATABASE or
   * SYSTEM. Named tables and indexes are RangeVars, checked like any table reference; REINDEX
   * SCHEMA must name the tenant's own schema.
   */
  databaseWide(type: string, body: Node): void {
    if (type === 'VacuumStmt' && !((body.rels as unknown[] | undefined)?.length)) {
      const verb = body.is_vacuumcmd === true ? 'VACUUM' : 'ANALYZE'
      this.refused ??= `${verb} without a table list acts on every table of the database; name the tenant's tables`
    }
    if (type === 'ClusterStmt' && !body.relation) this.refused ??= "CLUSTER without a table acts on every clustered table of the database; name the tenant's table"
    if (type === 'ReindexStmt') {
      const kind = String(body.kind ?? '')
      if (kind === 'REINDEX_OBJECT_SCHEMA') {
        if (typeof body.name === 'string') this.wholeSchemas.add(body.name)
      } else if (kind !== 'REINDEX_OBJECT_TABLE' && kind !== 'REINDEX_OBJECT_INDEX') {
        this.refused ??= `REINDEX ${kind.replace(/^REINDEX_OBJECT_/, '')} acts on the whole database; reindex the tenant's tables, indexes or schema`
      }
    }
  }

  /**
   * Schemas named outside RangeVars: DROP/COMMENT/GRANT/ALTER ... SET SCHEMA/CREATE SCHEMA and
   * friends spell objects as lists of strings (`schema.name`) or name a schema outright.
   */
  namedSchemas(type: string, body: Node): void {
    const add = (name: unknown) => {
      if (typeof name === 'string' && name.length > 0) this.schemas.add(name)
    }
    const objectType = String(body.removeType ?? body.objtype ?? body.objectType ?? body.renameType ?? '')
    if (type === 'CreateSchemaStmt') add(body.schemaname)
    if (type === 'AlterObjectSchemaStmt') add(body.newschema)
    if (objectType === 'OBJECT_SCHEMA') {
      // DROP SCHEMA x / GRANT ... ON SCHEMA x / ALTER SCHEMA x RENAME / COMMENT ON SCHEMA x
      // They act on the schema as a whole: it must be the tenant's own (see wholeSchemas).
      const whole = (name: unknown) => {
        add(name)
        if (typeof name === 'string' && name.length > 0) this.wholeSchemas.add(name)
      }
      for (const o of (body.objects as unknown[]) ?? []) whole(stringOf(o))
      whole(stringOf(body.object))
      if (type === 'RenameStmt') {
        whole(body.subname)
        whole(body.newname)
      }
    }
    if (type === 'GrantStmt' && body.targtype === 'ACL_TARGET_ALL_IN_SCHEMA') {
      for (const o of (body.objects as unknown[]) ?? []) {
        const schema = stringOf(o)
        add(schema)
        if (schema) this.wholeSchemas.add(schema)
      }
    }
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
      if (Array.isArray((child as Node).lockingClause)) this.lockingClauses(child as Node, scope)
      if (DML_STATEMENTS.has(key) && (child as Node).relation && isRangeVar((child as Node).relation)) {
        const { relation, ...rest } = child as Node
        this.catalogWrite(relation as Node, DML_VERBS[key] ?? key)
        this.collector.relation('rows', DML_VERBS[key] ?? key, relation)
        this.rangeVar(relation as Node, NO_CTES)
        this.walk({ [key]: rest }, scope)
        continue
      }
      const intoVerb = INTO_FIELDS[key]
      if (intoVerb !== undefined && isRangeVar((child as Node).rel)) {
        const { rel, ...rest } = child as Node
        this.catalogWrite(rel as Node, intoVerb)
        // It creates a table: DDL, whatever statement carries it.
        this.collector.relation('structure', intoVerb, rel)
        this.rangeVar(rel as Node, NO_CTES)
        this.walk(rest, scope)
        continue
      }
      // RangeVars come wrapped ({ RangeVar: {...} }) in lists, but bare in fields such as
      // ViewStmt.view, CreateStmt.relation and a foreign key's pktable.
      if (key === 'RangeVar' || isRangeVar(child)) this.rangeVar(child as Node, scope)
      else if (key === 'ViewStmt') this.viewStmt(child as Node, scope)
      else if (key === 'FuncCall') this.funcCall(child as Node, scope)
      else if (key === 'ColumnRef') this.columnRef(child as Node)
      else if (TYPE_NAME_FIELDS.has(key)) this.typeName(child as Node)
      else if (key === 'TypeCast') this.typeCast(child as Node, scope)
      else if ((child as Node).withClause) this.withScope(child as Node, scope)
      else {
        // OPERATOR(s.+) in an expression (A_Expr.name); the other qualified names are plain fields.
        if (key === 'A_Expr') this.qualifiedName((child as Node).name)
        else if (QUALIFIED_NAME_FIELDS.has(key)) this.qualifiedName(child)
        else if (key === 'exclusions') this.exclusionOperators(child)
        this.walk(child, scope)
      }
    }
  }

  qualifiedName(name: unknown): void {
    const schema = schemaOfNameList(strings(name))
    if (schema !== undefined) this.schemas.add(schema)
  }

  /** EXCLUDE (c WITH OPERATOR(s.&&)): each element is a pair [IndexElem, operator name as a list of strings]. */
  exclusionOperators(exclusions: unknown): void {
    for (const pair of Array.isArray(exclusions) ? exclusions : []) {
      const [, operator] = listItems(pair)
      this.qualifiedName(listItems(operator))
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

  /**
   * CREATE [OR REPLACE] VIEW: what its query reads is recorded (a simple view is automatically
   * updatable, so a view over a shared table is a way to write its rows), and pinned, so that
   * under `transaction` an unqualified name cannot resolve into a shared schema unseen.
   */
  viewStmt(vs: Node, scope: ReadonlySet<string>): void {
    const { query, ...rest } = vs
    this.walk(rest, scope)
    const outer = this.view
    this.view = String((vs.view as Node | undefined)?.relname ?? '?')
    this.walk(query, scope)
    this.view = outer
  }

  rangeVar(rv: Node, scope: ReadonlySet<string>): void {
    const relname = String(rv.relname)
    if (rv.relpersistence === 't') {
      this.temporary ??= relname
      // A temporary table lives in pg_temp; qualifying its creation with a schema is an error.
      if (!rv.schemaname) this.unqualifiable ??= `temporary table ${relname}`
    }
    const catalogSchema = typeof rv.schemaname === 'string' ? rv.schemaname : !scope.has(relname) && CATALOG_RELATIONS.has(relname) ? 'pg_catalog' : undefined
    const catalog = catalogSchema !== undefined && CATALOG_SCHEMA_NAMES.has(catalogSchema)
    if (catalog) this.catalogRead ??= `${catalogSchema}.${relname}`
    if (isLeakyCatalogRelation(relname)) {
      this.refused ??= `${relname} exposes other tenants' data (statistics values or counters, sequence values, query text, large objects or credentials)`
    }
    // A view over a catalog relation is refused outright (see statement()); CTE names are no relations.
    if (this.view !== undefined && !catalog && (rv.schemaname !== undefined || !scope.has(relname))) {
      this.collector.relation('view', `CREATE VIEW ${this.view} reading`, rv)
    }
    // In db.schema.table the catalog must be the current database (PostgreSQL refuses any
    // other), so only the schema matters.
    if (rv.schemaname) this.schemas.add(String(rv.schemaname))
    else if (!scope.has(relname)) {
      const target = this.collector.unqualified.get(rv)
      if (typeof rv.location !== 'number' || rv.location < 0) this.unqualifiable ??= `no position for table ${relname}`
      else if (CATALOG_RELATIONS.has(relname)) this.slots.push({ byte: rv.location, table: relname, catalog: true })
      else if (target !== undefined) {
        this.slots.push({ byte: rv.location, table: relname, pinned: true })
        this.slotted.add(target)
      } else this.slots.push({ byte: rv.location, table: relname })
    }
    this.walk(rv.alias, scope)
  }

  funcCall(fc: Node, scope: ReadonlySet<string>): void {
    const names = strings(fc.funcname)
    const schema = schemaOfNameList(names)
    if (schema !== undefined) this.schemas.add(schema)
    const fn = names.at(-1)?.toLowerCase() ?? ''
    const args = (fc.args as unknown[] | undefined) ?? []
    if (schema === undefined && !BUILTIN_FUNCTIONS.has(fn)) {
      // Not a pg_catalog function: a user function, found through the search path. Under
      // `qualify` that would be the connection's default path, so run it with the tenant's.
      this.searchPathDependent ??= `function ${fn}() is not built in and resolves through the search path`
    }
    if (SESSION_ADVISORY_LOCKS.has(fn)) {
      this.sessionChange ??= `session-level advisory lock ${fn}(); the pg_advisory_xact_* functions release theirs when the transaction ends`
    }
    if (fn === 'pg_notify') this.refused ??= "pg_notify() sends to a database-wide channel, which any other tenant's session may LISTEN on"
    const leftover = CONNECTION_LEFTOVERS.get(fn)
    if (leftover !== undefined && args.length === 0 && (schema === undefined || schema === 'pg_catalog')) this.refused ??= `${fn}() ${leftover}`
    if (REFUSED_FUNCTIONS.has(fn) || REFUSED_FUNCTION_PREFIX.test(fn) || (fn === 'ts_rewrite' && args.length === 2)) {
      this.unverifiable ??= `${fn}() runs SQL given as text or reaches beyond the tenant's schema`
    }
    if (fn === 'set_config') {
      // set_config('search_path', ..., false) is SET search_path by another name; a non-literal name could be anything.
      const setting = literalText(args[0])?.toLowerCase()
      if (setting === undefined || SESSION_SETTINGS.has(setting)) this.sessionChange ??= `set_config(${setting ?? '?'})`
      else if (!isTrueConst(args[2])) this.sessionChange ??= `set_config('${setting}', ..., false) (pass true: transaction-local)`
    }
    const position = RELATION_ARGUMENT.get(fn)
    if (position !== undefined && args.length > 0) {
      const arg = args[position(args.length)]
      const text = literalText(arg)
      if (text === undefined) {
        this.unverifiable ??= `${fn}() with a non-literal object name could name any tenant's object; pass a string literal`
      } else {
        const parts = qualifiedNameParts(text)
        const named = SCHEMA_ARGUMENT.has(fn) ? parts[0] : schemaOfNameList(parts)
        if (named !== undefined) this.schemas.add(named)
        // setval() rewinds or skips a sequence, nextval() consumes it: in a shared schema, every
        // tenant's next ids change (or run out: a bounded sequence can be exhausted for all).
        if (fn === 'setval' || fn === 'nextval') this.sequenceTarget(fn, arg, text, parts, named)
        else if (named === undefined) this.unqualifiable ??= `${fn}('${text}') resolves a name through the search path`
      }
    }
    this.walk(fc.args, scope)
    this.walk(fc.agg_filter, scope)
    this.walk(fc.agg_order, scope)
    this.walk(fc.over, scope)
  }

  /**
   * Records the sequence setval() or an explicit nextval() changes. An unqualified one is pinned
   * like a DML target: its slot sits just inside the opening quote of its literal, so qualifying
   * gives `setval('"tenant_a".ids', ...)` (checked in analyzeStatement: a plain '...' literal
   * only). Through the search path, it would reset or consume a shared sequence of that name.
   * (A column default calling nextval() is not visible here: it runs with the INSERT it serves.)
   */
  sequenceTarget(fn: 'setval' | 'nextval', arg: unknown, text: string, parts: readonly string[], named: string | undefined): void {
    const statement = `${fn}() on`
    if (named !== undefined) {
      this.changes.push({ change: 'rows', statement, object: text, schema: named })
      return
    }
    const target: ChangeTarget = { change: 'rows', statement, object: text, ...(parts.length === 1 ? { table: parts[0]! } : {}) }
    this.changes.push(target)
    const location = ((arg as Node | undefined)?.A_Const as Node | undefined)?.location
    if (parts.length === 1 && typeof location === 'number' && location >= 0) {
      this.slots.push({ byte: location, table: parts[0]!, pinned: true, literal: true })
      this.slotted.add(target)
    } else {
      this.unqualifiable ??= `${fn}('${text}') resolves a name through the search path`
    }
  }

  /**
   * SELECT ... FOR UPDATE / FOR NO KEY UPDATE takes the row locks an UPDATE takes: on a shared
   * table they block every tenant's foreign-key checks (FOR KEY SHARE) and writes on those rows
   * until this transaction ends, so the locked relations count as `rows` changes. A clause with
   * `OF x` locks the FROM items it names (an unmatched name: all of them, to be safe); without
   * OF, every relation in the FROM clause, subqueries in FROM included (PostgreSQL propagates the
   * lock into them). CTE references are not locked. Recorded before the FROM clause is walked,
   * so an unqualified relation's slot is pinned (see rangeVar). FOR SHARE / FOR KEY SHARE only
   * block writers and DDL, as a foreign-key check does, and stay allowed.
   */
  lockingClauses(select: Node, scope: ReadonlySet<string>): void {
    for (const item of select.lockingClause as unknown[]) {
      const clause = ((item as Node).LockingClause as Node | undefined) ?? (item as Node)
      const strength = EXCLUSIVE_ROW_LOCKS[String(clause.strength)]
      if (strength === undefined) continue
      const from = fromItems(select)
      const named = ((clause.lockedRels as unknown[] | undefined) ?? []).map((r) => String((((r as Node).RangeVar as Node | undefined) ?? (r as Node)).relname))
      const matched = from.filter((f) => f.name !== undefined && named.includes(f.name))
      const chosen = named.length > 0 && named.every((n) => matched.some((f) => f.name === n)) ? matched : from
      const own = withNames(select, scope)
      for (const f of chosen) {
        for (const { rv, scope: visible } of lockedRelations(f.node, own)) {
          const relname = String(rv.relname)
          if (typeof rv.schemaname === 'string' ? CATALOG_SCHEMA_NAMES.has(rv.schemaname) : visible.has(relname) || CATALOG_RELATIONS.has(relname)) continue
          this.collector.relation('rows', `SELECT ... ${strength} (row locks) on`, rv)
        }
      }
    }
  }

  columnRef(cr: Node): void {
    const fields = ((cr.fields as unknown[]) ?? []).map(stringOf)
    // schema.table.column (or catalog.schema.table.column): the schema is the part before the table.
    if (fields.length >= 3 && fields[fields.length - 3] !== undefined) this.schemas.add(fields[fields.length - 3]!)
  }

  typeName(tn: Node): void {
    const names = strings(tn.names)
    const schema = schemaOfNameList(names)
    if (schema !== undefined) this.schemas.add(schema)
    else if (names.length === 1 && !BUILTIN_TYPES.has(names[0]!)) {
      this.searchPathDependent ??= `type ${names[0]} is not built in and resolves through the search path`
    }
  }

  typeCast(tc: Node, scope: ReadonlySet<string>): void {
    const typeNames = strings((tc.typeName as Node)?.names)
    const target = typeNames.at(-1)
    const text = literalText(tc.arg)
    if (target && REG_TYPES.has(target) && text !== undefined) {
      const parts = qualifiedNameParts(text)
      // 'x'::regnamespace names the schema itself.
      const named = target === 'regnamespace' ? parts[0] : schemaOfNameList(parts)
      if (named !== undefined) this.schemas.add(named)
      else if (target === 'regclass') this.unqualifiable ??= `'${text}'::regclass resolves through the search path`
      else if (target !== 'regnamespace' && !(target === 'regtype' ? BUILTIN_TYPES : BUILTIN_FUNCTIONS).has(parts[0] ?? '')) {
        this.searchPathDependent ??= `'${text}'::${target} resolves through the search path`
      }
    }
    // A non-literal cast to regclass only yields an oid: every function that could read or write
    // through one (RELATION_ARGUMENT, REFUSED_FUNCTIONS) demands a literal or is refused.
    this.typeName((tc.typeName as Node) ?? {})
    this.walk(tc.arg, scope)
  }
}

/** The ALTER FUNCTION action `def` spells, when schema routing refuses it (see Analyzer.functionActions). */
function refusedFunctionAction(def: Node | undefined): string | undefined {
  if (def?.defname === 'set') {
    const set = ((def.arg as Node | undefined)?.VariableSetStmt as Node | undefined) ?? {}
    const verb = String(set.kind ?? '').startsWith('VAR_RESET') ? 'RESET' : 'SET'
    return `${verb} ${typeof set.name === 'string' ? set.name : 'ALL'}`
  }
  if (def?.defname === 'security' && ((def.arg as Node | undefined)?.Boolean as Node | undefined)?.boolval === true) return 'SECURITY DEFINER'
  if (def?.defname === 'support') return 'SUPPORT'
  return undefined
}

/** Whether the temporary table a statement creates is dropped when its transaction ends. */
function dropsOnCommit(type: string, body: Node): boolean {
  if (type === 'CreateStmt') return body.oncommit === 'ONCOMMIT_DROP'
  if (type === 'CreateTableAsStmt') return (body.into as Node | undefined)?.onCommit === 'ONCOMMIT_DROP'
  if (type === 'SelectStmt') return (body.intoClause as Node | undefined)?.onCommit === 'ONCOMMIT_DROP'
  return false
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
  const statements = tree.stmts ?? []
  // pg sends a parameterless text as one simple query, which may hold several statements:
  // after a COMMIT among them, the rest would run without the tenant's search path.
  if (statements.length > 1) a.refused = `the text holds ${statements.length} statements; schema routing runs exactly one statement per call`
  for (const raw of statements) if (raw.stmt) a.statement(raw.stmt as Node)
  const toIndex = byteToIndex(text)
  const slots: TableSlot[] = []
  for (const s of a.slots) {
    let index = toIndex(s.byte)
    if (s.literal) {
      // Only a plain '...' literal takes a schema just inside its quote (not E'...', U&'...' or $$...$$).
      if (text[index] !== "'") {
        a.unqualifiable ??= `the sequence name in setval() or nextval() is not a plain string literal`
        continue
      }
      index += 1
    }
    const slot = { index: toOriginal(index), table: s.table }
    slots.push(s.catalog ? { ...slot, catalog: true } : s.pinned ? { ...slot, pinned: true } : slot)
  }
  slots.sort((x, y) => x.index - y.index)
  return Object.freeze({
    slots: Object.freeze(slots),
    schemas: a.schemas,
    ...(a.unqualifiable !== undefined ? { unqualifiable: a.unqualifiable } : {}),
    ...(a.searchPathDependent !== undefined ? { searchPathDependent: a.searchPathDependent } : {}),
    ...(a.sessionChange !== undefined ? { sessionChange: a.sessionChange } : {}),
    ...(a.unverifiable !== undefined ? { unverifiable: a.unverifiable } : {}),
    ...(a.refused !== undefined ? { refused: a.refused } : {}),
    ...(a.wholeSchemas.size > 0 ? { wholeSchemas: a.wholeSchemas } : {}),
    ...(a.changes.length > 0 ? { changes: Object.freeze(a.changes.map((c) => Object.freeze(c))) } : {}),
  })
}
