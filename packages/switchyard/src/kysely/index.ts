import { Kysely, type KyselyPlugin } from 'kysely'
import { emptyRouteContext } from '../context/route-context.js'
import { ConfigurationError } from '../errors.js'
import type { Switchyard } from '../facade/switchyard.js'
import { ModelRegistry } from '../router/static.js'
import { RoutedDialect, type KyselyFlavor } from './routed-dialect.js'

export interface RoutedKyselyOptions {
  /** SQL flavour to compile for. Default: the dialect of the `default` write alias. */
  readonly flavor?: KyselyFlavor
  readonly plugins?: readonly KyselyPlugin[]
}

/**
 * A Kysely instance whose every statement routes by itself: selects read (unless they lock
 * rows or carry a data-modifying CTE), everything else writes, transactions run on the write
 * alias, and a join across aliases fails with `CrossDatabaseRelationError` before reaching
 * any database unless a router's `allowRelation` permits it.
 *
 * @example
 * ```ts
 * import { routedKysely } from 'switchyard/kysely'
 * interface DB { orders: { id: number; total: number } }
 * const db = routedKysely<DB>(sy)
 * await db.selectFrom('orders').selectAll().where('id', '=', 1).execute() // dbForRead
 * await db.insertInto('orders').values({ id: 2, total: 10 }).execute()     // dbForWrite
 * ```
 */
export function routedKysely<DB>(sy: Switchyard, options: RoutedKyselyOptions = {}): Kysely<DB> {
  const flavor = options.flavor ?? flavorOf(sy)
  const schemaPlugin = sy.kyselySchemaPlugin()
  const plugins = [...(schemaPlugin ? [schemaPlugin] : []), ...(options.plugins ?? [])]
  return new Kysely<DB>({ dialect: new RoutedDialect(sy, flavor), plugins })
}

function flavorOf(sy: Switchyard): KyselyFlavor {
  const alias = sy.routeWrite(ModelRegistry.NONE, emptyRouteContext).alias
  const spec = sy.pools.peekSpec(alias)
  if (!spec) throw new ConfigurationError(`kysely(): alias '${alias}' is not configured up front; pass { flavor } explicitly`)
  return spec.capabilities.dialect
}

export { RoutedDialect }
export type { KyselyFlavor }
export { kindOfNode, tablesOfNode } from './query-tree.js'
