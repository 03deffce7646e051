/**
 * An object a statement creates, changes or writes rows into, or the schema it moves one into
 * (SET SCHEMA). The analysis records them without knowing the tenant; the guard decides, per
 * router, whether one lands in a shared schema, named explicitly or reached through
 * `sharedTables`. An unqualified object that is not a relation (a function, a type) is found
 * through the search path: it is recorded with neither `schema` nor `table`, so the router can
 * run the statement with the tenant's schema alone on its path.
 */
export interface ChangeTarget {
  /** `structure`: DDL, TRUNCATE and maintenance, never allowed on a shared schema; `rows`: INSERT, UPDATE, DELETE, MERGE, COPY FROM, setval(). */
  readonly change: 'structure' | 'rows'
  /** The statement kind, for messages: `DROP TABLE`, `TRUNCATE`, `INSERT INTO`. */
  readonly statement: string
  /** The object as written: `shared.countries`, `countries`, `orders SET SCHEMA shared`. */
  readonly object: string
  /** The schema named explicitly (for SET SCHEMA, also the destination); undefined when unqualified. */
  readonly schema?: string
  /** An unqualified relation's name, which `sharedTables` may place in a shared schema. */
  readonly table?: string
}

type Node = Record<string, unknown>

/** Object types whose unqualified name is a relation's. */
const RELATION_KINDS = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE', 'OBJECT_SEQUENCE', 'OBJECT_INDEX'])
/** Object types named `[schema.]table.name`: a column, constraint, trigger, policy or rule changes its table. */
const TABLE_MEMBERS = new Set(['OBJECT_COLUMN', 'OBJECT_TABCONSTRAINT', 'OBJECT_TRIGGER', 'OBJECT_POLICY', 'OBJECT_RULE'])
/** Operator classes and families are named `access_method.[schema.]name`: the first item is not a schema. */
const METHOD_PREFIXED = new Set(['OBJECT_OPCLASS', 'OBJECT_OPFAMILY'])
const KIND_NAMES: Readonly<Record<string, string>> = {
  MATVIEW: 'MATERIALIZED VIEW', TABCONSTRAINT: 'CONSTRAINT', DOMCONSTRAINT: 'CONSTRAINT', OPCLASS: 'OPERATOR CLASS', OPFAMILY: 'OPERATOR FAMILY',
  STATISTIC_EXT: 'STATISTICS', TSDICTIONARY: 'TEXT SEARCH DICTIONARY', TSCONFIGURATION: 'TEXT SEARCH CONFIGURATION',
  TSPARSER: 'TEXT SEARCH PARSER', TSTEMPLATE: 'TEXT SEARCH TEMPLATE',
}
/** ALTER TABLE actions that change another relation: its inheritance children or its partitions. */
const INHERITANCE_COMMANDS = new Set(['AT_AddInherit', 'AT_DropInherit'])
const PARTITION_COMMANDS = new Set(['AT_AttachPartition', 'AT_DetachPartition', 'AT_DetachPartitionFinalize'])

function kindName(objtype: string): string {
  const kind = objtype.replace(/^OBJECT_/, '')
  return KIND_NAMES[kind] ?? kind.replace(/_/g, ' ')
}

function rangeVarOf(node: unknown): Node | undefined {
  const n = node as Node | undefined
  if (!n || typeof n !== 'object') return undefined
  if (typeof n.relname === 'string') return n
  return n.RangeVar as Node | undefined
}

/** The name parts of an object as DDL spells it: a list of strings, a `{ List }`, ObjectWithArgs, TypeName or a RangeVar. */
function namesOf(node: unknown): string[] | undefined {
  if (Array.isArray(node)) {
    const names = node.map((n) => ((n as Node)?.String as { sval?: string } | undefined)?.sval)
    return names.every((n): n is string => typeof n === 'string') ? names : undefined
  }
  const n = node as Node | undefined
  if (!n || typeof n !== 'object') return undefined
  const rv = rangeVarOf(n)
  if (rv) return typeof rv.schemaname === 'string' ? [rv.schemaname, String(rv.relname)] : [String(rv.relname)]
  if (n.List) return namesOf((n.List as Node).items)
  if (n.ObjectWithArgs) return namesOf((n.ObjectWithArgs as Node).objname)
  if (Array.isArray(n.objname)) return namesOf(n.objname)
  if (n.TypeName) return namesOf((n.TypeName as Node).names)
  if (Array.isArray(n.names)) return namesOf(n.names)
  return undefined
}

/** Records a change to the relation `node` (a RangeVar); temporary ones live in pg_temp, never in a shared schema. */
export function relationChange(out: ChangeTarget[], change: ChangeTarget['change'], statement: string, node: unknown, relation = true): void {
  const rv = rangeVarOf(node)
  if (!rv || rv.relpersistence === 't') return
  const name = String(rv.relname)
  if (typeof rv.schemaname === 'string') out.push({ change, statement, object: `${rv.schemaname}.${name}`, schema: rv.schemaname })
  else if (relation) out.push({ change, statement, object: name, table: name })
}

/** Records a structure change to an object named as DDL spells names; `objtype` says how to read them. */
function objectChange(out: ChangeTarget[], statement: string, node: unknown, objtype: string, suffix = ''): void {
  let names = namesOf(node)
  if (names === undefined) return
  if (METHOD_PREFIXED.has(objtype)) names = names.slice(1)
  const parts = TABLE_MEMBERS.has(objtype) ? 2 : 1
  if (names.length < parts) return
  const object = names.join('.') + suffix
  if (names.length > parts) out.push({ change: 'structure', statement, object, schema: names[names.length - parts - 1]! })
  else if (parts === 2 || RELATION_KINDS.has(objtype)) out.push({ change: 'structure', statement, object, table: names[0]! })
  // Unqualified, and not a relation: found through the search path, so the router runs it with the tenant's schema alone.
  else out.push({ change: 'structure', statement, object })
}

/**
 * What a top-level statement changes, beyond the DML targets and SELECT INTO / CREATE TABLE AS
 * targets the analyzer's walk finds wherever they are (CTEs, EXPLAIN ANALYZE). Reads stay out:
 * a foreign key's referenced table, `LIKE`, `OF type`, a view's query, LOCK.
 */
export function statementChanges(type: string, body: Node): ChangeTarget[] {
  const out: ChangeTarget[] = []
  const objtype = String(body.removeType ?? body.objtype ?? body.objectType ?? body.renameType ?? (type === 'DefineStmt' ? body.kind : ''))
  const kind = kindName(objtype)
  const relation = (statement: string, node: unknown, isRelation = true) => relationChange(out, 'structure', statement, node, isRelation)
  const object = (statement: string, node: unknown) => objectChange(out, statement, node, objtype)
  const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : [])
  switch (type) {
    case 'CreateStmt':
      relation('CREATE TABLE', body.relation)
      // A child or partition of a shared table shows its rows to every tenant reading the parent.
      for (const parent of list(body.inhRelations)) relation(body.partbound ? 'CREATE TABLE ... PARTITION OF' : 'CREATE TABLE ... INHERITS', parent)
      break
    case 'IndexStmt':
      relation('CREATE INDEX ON', body.relation)
      break
    case 'AlterTableStmt':
      relation(`ALTER ${kind}`, body.relation, objtype !== 'OBJECT_TYPE')
      for (const item of list(body.cmds)) {
        const cmd = ((item as Node).AlterTableCmd as Node | undefined) ?? {}
        const subtype = String(cmd.subtype)
        if (INHERITANCE_COMMANDS.has(subtype)) relation(`ALTER ${kind} ... INHERIT`, cmd.def)
        if (PARTITION_COMMANDS.has(subtype)) relation(`ALTER ${kind} ... PARTITION`, ((cmd.def as Node | undefined)?.PartitionCmd as Node | undefined)?.name)
      }
      break
    case 'ViewStmt':
      relation('CREATE VIEW', body.view)
      break
    case 'CreateSeqStmt':
      relation('CREATE SEQUENCE', body.sequence)
      break
    case 'AlterSeqStmt':
      relation('ALTER SEQUENCE', body.sequence)
      break
    case 'TruncateStmt':
      for (const r of list(body.relations)) relation('TRUNCATE', r)
      break
    case 'RefreshMatViewStmt':
      relation('REFRESH MATERIALIZED VIEW', body.relation)
      break
    case 'CreatePolicyStmt':
    case 'AlterPolicyStmt':
      relation(type === 'CreatePolicyStmt' ? 'CREATE POLICY ... ON' : 'ALTER POLICY ... ON', body.table)
      break
    case 'CompositeTypeStmt':
      relation('CREATE TYPE', body.typevar, false)
      break
    case 'CreateStatsStmt':
      object('CREATE STATISTICS', body.defnames)
      for (const r of list(body.relations)) relation('CREATE STATISTICS ... ON', r)
      break
    case 'AlterStatsStmt':
      object('ALTER STATISTICS', body.defnames)
      break
    case 'VacuumStmt':
      for (const r of list(body.rels)) relation(body.is_vacuumcmd === true ? 'VACUUM' : 'ANALYZE', ((r as Node).VacuumRelation as Node | undefined)?.relation)
      break
    case 'ClusterStmt':
      relation('CLUSTER', body.relation)
      break
    case 'ReindexStmt':
      relation(`REINDEX ${String(body.kind).replace(/^REINDEX_OBJECT_/, '')}`, body.relation)
      break
    case 'CopyStmt':
      if (body.is_from === true) relationChange(out, 'rows', 'COPY ... FROM', body.relation)
      break
    case 'CreateSchemaStmt':
      if (typeof body.schemaname === 'string') out.push({ change: 'structure', statement: 'CREATE SCHEMA', object: body.schemaname, schema: body.schemaname })
      break
    case 'DropStmt':
      // DROP SCHEMA / GRANT ON SCHEMA act on a schema as a whole: the analysis's wholeSchemas.
      if (objtype !== 'OBJECT_SCHEMA') for (const o of list(body.objects)) object(`DROP ${kind}`, o)
      break
    case 'CommentStmt':
      if (objtype !== 'OBJECT_SCHEMA') object(`COMMENT ON ${kind}`, body.object)
      break
    case 'GrantStmt':
      if (body.targtype === 'ACL_TARGET_OBJECT' && objtype !== 'OBJECT_SCHEMA') {
        for (const o of list(body.objects)) object(`${body.is_grant === true ? 'GRANT' : 'REVOKE'} ... ON ${kind}`, o)
      }
      break
    case 'AlterOwnerStmt':
      object(`ALTER ${kind} ... OWNER TO`, body.object ?? body.relation)
      break
    case 'RenameStmt':
      if (objtype === 'OBJECT_SCHEMA') break
      // relationType says what holds a renamed column, constraint or attribute; for anything else it is unset (parsed as 0).
      if (body.relation) {
        const holder = TABLE_MEMBERS.has(objtype) || objtype === 'OBJECT_ATTRIBUTE' ? String(body.relationType) : objtype
        relation(`ALTER ${kindName(holder)} ... RENAME`, body.relation, holder !== 'OBJECT_TYPE')
      }
      else object(`ALTER ${kind} ... RENAME`, body.object)
      break
    case 'AlterObjectSchemaStmt':
      alterObjectSchema(out, body, objtype)
      break
    case 'AlterFunctionStmt':
      object(`ALTER ${kind}`, body.func)
      break
    case 'AlterEnumStmt':
    case 'AlterTypeStmt':
      object('ALTER TYPE', body.typeName)
      break
    case 'AlterDomainStmt':
      object('ALTER DOMAIN', body.typeName)
      break
    case 'CreateEnumStmt':
      object('CREATE TYPE', body.typeName)
      break
    case 'CreateDomainStmt':
      object('CREATE DOMAIN', body.domainname)
      break
    case 'DefineStmt':
      object(`CREATE ${kind}`, body.defnames)
      break
  }
  return out
}

/** ALTER ... SET SCHEMA changes its object where it is and the schema it moves it into: both must not be shared. */
function alterObjectSchema(out: ChangeTarget[], body: Node, objtype: string): void {
  const destination = typeof body.newschema === 'string' ? body.newschema : undefined
  const statement = `ALTER ${kindName(objtype)}`
  const suffix = destination !== undefined ? ` SET SCHEMA ${destination}` : ' SET SCHEMA'
  const before = out.length
  if (body.relation) relationChange(out, 'structure', statement, body.relation)
  else objectChange(out, statement, body.object, objtype, suffix)
  if (body.relation && out.length > before) {
    const source = out[before]!
    out[before] = { ...source, object: source.object + suffix }
  }
  if (destination === undefined) return
  const moved = namesOf(body.relation ?? body.object)?.join('.') ?? '?'
  out.push({ change: 'structure', statement, object: moved + suffix, schema: destination })
}
