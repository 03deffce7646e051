/**
 * An object a statement creates, changes or writes rows into, or the schema it moves one into
 * (SET SCHEMA); also a relation a view reads (rows can be written through the view) and one
 * LOCK holds in a mode that blocks other sessions' writes. The analysis records them without
 * knowing the tenant; the guard decides, per router, whether one lands in a shared schema,
 * named explicitly or reached through `sharedTables`. An unqualified object that is not a
 * relation (a function, a type) is found through the search path: it is recorded with neither
 * `schema` nor `table`, so the router can run the statement with the tenant's schema alone on
 * its path.
 */
export interface ChangeTarget {
  /**
   * `structure`: DDL, TRUNCATE and maintenance, never allowed on a shared schema; `rows`: INSERT,
   * UPDATE, DELETE, MERGE, COPY FROM, setval(), an explicit nextval(), SELECT ... FOR UPDATE / FOR
   * NO KEY UPDATE (UPDATE's row locks); `view`: a relation a CREATE [OR REPLACE] VIEW
   * reads, refused like `rows` (a simple view is automatically updatable: writes through it land
   * in what it reads); `lock`: LOCK in a mode stronger than ROW EXCLUSIVE, never allowed on a
   * shared schema (it stalls every tenant's writes, or reads, until the transaction ends).
   */
  readonly change: 'structure' | 'rows' | 'view' | 'lock'
  /** The statement kind, for messages: `DROP TABLE`, `TRUNCATE`, `INSERT INTO`, `CREATE VIEW v reading`. */
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
/** Object types named `[schema.]holder.name` whose holder is not a relation: a domain's constraint changes its domain. */
const TYPE_MEMBERS = new Set(['OBJECT_DOMCONSTRAINT'])
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
/**
 * LockStmt.mode (PostgreSQL's lock mode numbers) to its name. ROW EXCLUSIVE (3), what INSERT and
 * UPDATE take, is the strongest a tenant may hold on a shared table: from SHARE UPDATE EXCLUSIVE
 * (4) up, a lock conflicts with other sessions' writes or maintenance, and ACCESS EXCLUSIVE (8,
 * the default) with their reads, until the locking transaction ends.
 */
const LOCK_MODES: Readonly<Record<number, string>> = {
  4: 'SHARE UPDATE EXCLUSIVE', 5: 'SHARE', 6: 'SHARE ROW EXCLUSIVE', 7: 'EXCLUSIVE', 8: 'ACCESS EXCLUSIVE',
}

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

/**
 * The name parts of an object as DDL spells it: a list of strings, a `{ List }`, ObjectWithArgs,
 * TypeName or a RangeVar. In a list, a TypeName stands for its own parts (`COMMENT ON CONSTRAINT
 * c ON DOMAIN s.d` is `[TypeName s.d, c]`). Undefined for any other shape.
 */
function namesOf(node: unknown): string[] | undefined {
  if (Array.isArray(node)) {
    const names: string[] = []
    for (const item of node) {
      const n = item as Node | undefined
      const sval = (n?.String as { sval?: unknown } | undefined)?.sval
      const parts = typeof sval === 'string' ? [sval] : n?.TypeName ? namesOf((n.TypeName as Node).names) : undefined
      if (parts === undefined) return undefined
      names.push(...parts)
    }
    return names
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

/**
 * Collects what a statement changes. Besides the targets, it keeps the RangeVar node of each
 * unqualified relation recorded (the analyzer marks that table slot `pinned`: qualified with the
 * tenant's schema even where the rest of the statement resolves through the search path), and
 * why an object's name could not be read, if one could not: the statement is then refused
 * rather than let through unchecked.
 */
export class ChangeCollector {
  readonly changes: ChangeTarget[] = []
  /** Unqualified relation targets by their RangeVar node (the parse tree's own object). */
  readonly unqualified = new Map<object, ChangeTarget>()
  unreadable: string | undefined

  /** Records `node` (a RangeVar); temporary ones live in pg_temp, never in a shared schema. `relation: false`: its unqualified name is not a relation's, so it is not recorded. */
  relation(change: ChangeTarget['change'], statement: string, node: unknown, relation = true, suffix = ''): void {
    const rv = rangeVarOf(node)
    if (!rv || rv.relpersistence === 't') return
    const name = String(rv.relname)
    if (typeof rv.schemaname === 'string') {
      this.changes.push({ change, statement, object: `${rv.schemaname}.${name}${suffix}`, schema: rv.schemaname })
    } else if (relation) {
      const target: ChangeTarget = { change, statement, object: name + suffix, table: name }
      this.changes.push(target)
      this.unqualified.set(rv, target)
    }
  }

  /** Records a structure change to an object named as DDL spells names; `objtype` says how to read them. */
  object(statement: string, node: unknown, objtype: string, suffix = ''): void {
    let names = namesOf(node)
    if (METHOD_PREFIXED.has(objtype)) names = names?.slice(1)
    const member = TABLE_MEMBERS.has(objtype) || TYPE_MEMBERS.has(objtype)
    const parts = member ? 2 : 1
    if (names === undefined || names.length < parts) {
      // An object kind whose name shape this module does not know: it could be in a shared schema.
      this.unreadable ??= `${statement}: the name of this ${kindName(objtype).toLowerCase()} could not be read, so whether it is in a shared schema cannot be checked`
      return
    }
    const object = names.join('.') + suffix
    if (names.length > parts) this.changes.push({ change: 'structure', statement, object, schema: names[names.length - parts - 1]! })
    else if (TABLE_MEMBERS.has(objtype) || RELATION_KINDS.has(objtype)) this.changes.push({ change: 'structure', statement, object, table: names[0]! })
    // Unqualified, and not a relation: found through the search path, so the router runs it with the tenant's schema alone.
    else this.changes.push({ change: 'structure', statement, object })
  }
}

/**
 * Records what a top-level statement changes, beyond the DML targets, SELECT INTO / CREATE TABLE
 * AS targets and relations a view reads, which the analyzer's walk finds wherever they are (CTEs,
 * EXPLAIN ANALYZE, CREATE SCHEMA's elements). Reads stay out: a foreign key's referenced table,
 * `LIKE`, `OF type`, LOCK in a mode that only conflicts with DDL (ROW EXCLUSIVE and weaker).
 */
export function statementChanges(type: string, body: Node, out: ChangeCollector): void {
  const objtype = String(body.removeType ?? body.objtype ?? body.objectType ?? body.renameType ?? (type === 'DefineStmt' ? body.kind : ''))
  const kind = kindName(objtype)
  const relation = (statement: string, node: unknown, isRelation = true) => out.relation('structure', statement, node, isRelation)
  const object = (statement: string, node: unknown) => out.object(statement, node, objtype)
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
      // ALTER TYPE t ADD/DROP/ALTER ATTRIBUTE (OBJECT_TYPE) is one too: a composite type is a relation, qualified like a table.
      relation(`ALTER ${kind}`, body.relation)
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
      if (body.is_from === true) out.relation('rows', 'COPY ... FROM', body.relation)
      break
    case 'LockStmt': {
      const mode = LOCK_MODES[Number(body.mode)]
      if (mode !== undefined) for (const r of list(body.relations)) out.relation('lock', 'LOCK TABLE', r, true, ` IN ${mode} MODE`)
      break
    }
    case 'CreateSchemaStmt':
      if (typeof body.schemaname === 'string') out.changes.push({ change: 'structure', statement: 'CREATE SCHEMA', object: body.schemaname, schema: body.schemaname })
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
      if (objtype !== 'OBJECT_SCHEMA') object(`ALTER ${kind} ... OWNER TO`, body.object ?? body.relation)
      break
    case 'RenameStmt':
      if (objtype === 'OBJECT_SCHEMA') break
      // relationType says what holds a renamed column, constraint or attribute (a composite type's
      // attribute: OBJECT_TYPE, a relation too); for anything else it is unset (parsed as 0).
      if (body.relation) {
        const holder = TABLE_MEMBERS.has(objtype) || objtype === 'OBJECT_ATTRIBUTE' ? String(body.relationType) : objtype
        relation(`ALTER ${kindName(holder)} ... RENAME`, body.relation)
      }
      // ALTER DOMAIN d RENAME CONSTRAINT names the domain alone (COMMENT ON CONSTRAINT c ON DOMAIN d names both).
      else if (objtype === 'OBJECT_DOMCONSTRAINT') out.object('ALTER DOMAIN ... RENAME CONSTRAINT', body.object, 'OBJECT_DOMAIN')
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
}

/** ALTER ... SET SCHEMA changes its object where it is and the schema it moves it into: both must not be shared. */
function alterObjectSchema(out: ChangeCollector, body: Node, objtype: string): void {
  const destination = typeof body.newschema === 'string' ? body.newschema : undefined
  const statement = `ALTER ${kindName(objtype)}`
  const suffix = destination !== undefined ? ` SET SCHEMA ${destination}` : ' SET SCHEMA'
  if (body.relation) out.relation('structure', statement, body.relation, true, suffix)
  else out.object(statement, body.object, objtype, suffix)
  if (destination === undefined) return
  const moved = namesOf(body.relation ?? body.object)?.join('.') ?? '?'
  out.changes.push({ change: 'structure', statement, object: moved + suffix, schema: destination })
}
