import type { CompiledQuery, DatabaseConnection, QueryResult, TransactionSettings } from 'kysely'
import { currentRouteContext } from '../context/route-context.js'
import { CrossDatabaseRelationError, TenantIsolationError, UnsupportedError } from '../errors.js'
import { CATALOG_SCHEMAS } from '../sql/guard.js'
import type { Switchyard } from '../facade/switchyard.js'
import type { TransactionScope } from '../facade/transaction-scope.js'
import type { RoutedResult } from '../facade/types.js'
import { guardTreeChanges, isPlainTree, kindOfNode, schemasOfNode, tablesOfNode } from './query-tree.js'

class Rollback extends Error {}

/**
 * A Kysely connection that routes each statement by itself. Outside a transaction it holds
 * nothing: every statement borrows a pool for its own alias. Inside one it is bound to the
 * transaction's single connection on the write alias.
 */
export class RoutedConnection implements DatabaseConnection {
  #tx: TransactionScope | undefined
  #finish: { commit: () => void; rollback: (err: Error) => void } | undefined
  #done: Promise<void> | undefined

  constructor(private readonly sy: Switchyard) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const params = compiled.parameters
    const tables = tablesOfNode(compiled.query)
    if (this.#tx) {
      this.#guardTransaction(this.#tx.alias, tables)
      return toKysely(await this.#tx.query<R>(compiled.sql, params))
    }
    const ctx = currentRouteContext()
    const model = this.sy.model(tables[0])
    let kind = kindOfNode(compiled.query)
    if (kind === undefined) kind = await this.sy.classify(compiled.sql, this.sy.routeRead(model, ctx).alias)
    this.#guardRelations(tables, kind)
    const qualifiedFor = this.#guardedTree(compiled, kind, model)
    if (qualifiedFor !== undefined) return toKysely(await this.sy.runQualified<R>(kind, model, qualifiedFor, compiled.sql, params))
    const options = { model: tables[0] }
    const result = kind === 'read' ? await this.sy.read<R>(compiled.sql, params, options) : await this.sy.write<R>(compiled.sql, params, options)
    return toKysely(result)
  }

  /**
   * The tenant schema a statement was qualified with from its query tree, once the tree is
   * checked to name no other schema; `undefined` sends it down the parsing path instead
   * (raw SQL, user functions or types, engines that scope schemas otherwise).
   */
  #guardedTree(compiled: CompiledQuery, kind: 'read' | 'write', model: ReturnType<Switchyard['model']>): string | undefined {
    const ctx = currentRouteContext()
    const schema = this.sy.schemaFor(model, ctx)
    if (schema === undefined) return undefined
    const alias = (kind === 'read' ? this.sy.routeRead(model, ctx) : this.sy.routeWrite(model, ctx)).alias
    const shared = this.sy.treeQualifiable(alias)
    if (!shared || !isPlainTree(compiled.query)) return undefined
    const { schemas, unqualifiedTable } = schemasOfNode(compiled.query)
    if (unqualifiedTable) return undefined
    for (const named of schemas) {
      // The catalogs are readable, but only the SQL guard knows which of their relations leak: parse.
      if (CATALOG_SCHEMAS.has(named)) return undefined
      if (named !== schema && !shared.has(named)) throw new TenantIsolationError(named, schema)
    }
    // This path skips the SQL guard: refuse writes into shared tables here (the plugin may not be ours).
    guardTreeChanges(compiled.query, schema, shared, this.sy.sharedWrites)
    return schema
  }

  /**
   * A Kysely transaction is opened before its statements are known, on the write alias of no
   * particular model. A statement for a model that lives elsewhere must fail rather than run
   * on the transaction's database.
   */
  #guardTransaction(alias: string, tables: readonly string[]): void {
    const ctx = currentRouteContext()
    for (const table of tables) {
      const own = this.sy.routeWrite(this.sy.model(table), ctx).alias
      if (own !== alias) throw new CrossDatabaseRelationError({ table, alias: own }, { table: '(the open transaction)', alias })
    }
    this.#guardRelations(tables, 'write')
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new UnsupportedError('Streaming is not supported through a routed Kysely instance')
  }

  /**
   * Opens the transaction with Kysely's isolation level and access mode. They go to the
   * engine, which applies them as it begins: a `set transaction` sent afterwards would come
   * after the tenant's search path was set, and PostgreSQL refuses it there (25001).
   */
  async begin(settings: TransactionSettings): Promise<void> {
    const { isolationLevel, accessMode } = settings
    if (isolationLevel === 'snapshot') {
      throw new UnsupportedError("Isolation level 'snapshot' is SQL Server's; none of Switchyard's engines has it. Use 'serializable' or 'repeatable read'.")
    }
    let started!: () => void
    const ready = new Promise<void>((resolve) => (started = resolve))
    this.#done = this.sy.transaction(
      async (tx) => {
        this.#tx = tx
        started()
        // The transaction stays open until Kysely commits or rolls back through this connection.
        await new Promise<void>((commit, rollback) => (this.#finish = { commit, rollback }))
      },
      { isolationLevel, readOnly: accessMode === 'read only' },
    )
    await Promise.race([ready, this.#done])
  }

  async commit(): Promise<void> {
    this.#finish?.commit()
    await this.#end()
  }

  async rollback(): Promise<void> {
    this.#finish?.rollback(new Rollback())
    await this.#end().catch((err: unknown) => {
      if (!(err instanceof Rollback)) throw err
    })
  }

  async #end(): Promise<void> {
    try {
      await this.#done
    } finally {
      this.#tx = undefined
      this.#finish = undefined
      this.#done = undefined
    }
  }

  /** Tables on different aliases may not meet in one statement unless a router allows it. */
  #guardRelations(tables: readonly string[], kind: 'read' | 'write'): void {
    if (tables.length < 2) return
    const ctx = currentRouteContext()
    const route = (t: string) => (kind === 'read' ? this.sy.routeRead(this.sy.model(t), ctx) : this.sy.routeWrite(this.sy.model(t), ctx)).alias
    const [first, ...rest] = tables as [string, ...string[]]
    const firstAlias = route(first)
    for (const other of rest) {
      const otherAlias = route(other)
      const allowed = this.sy.routers.allowRelation(this.sy.model(first), this.sy.model(other), ctx)
      if (allowed === false || (allowed === undefined && otherAlias !== firstAlias)) {
        throw new CrossDatabaseRelationError({ table: first, alias: firstAlias }, { table: other, alias: otherAlias })
      }
    }
  }
}

function toKysely<R>(result: RoutedResult<R>): QueryResult<R> {
  const out = { rows: result.rows, numAffectedRows: BigInt(result.rowCount) }
  return result.insertId === undefined ? out : { ...out, insertId: result.insertId }
}
