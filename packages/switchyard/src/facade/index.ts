import { Switchyard } from './switchyard.js'
import type { SwitchyardOptions } from './types.js'

/**
 * Creates a routed database handle.
 *
 * @example
 * ```ts
 * import { createSwitchyard, withRouteContext } from 'switchyard'
 * import { postgres } from 'switchyard/postgres'
 *
 * const sy = createSwitchyard({
 *   databases: {
 *     default: postgres({ connectionString: process.env.PRIMARY_URL }),
 *     replica: postgres({ connectionString: process.env.REPLICA_URL }),
 *   },
 *   routers: [{ dbForRead: () => 'replica', dbForWrite: () => 'default' }],
 * })
 * await withRouteContext({ tenant: 'acme' }, async () => {
 *   await sy.write('insert into orders (id) values ($1)', [1])
 *   await sy.read('select * from orders where id = $1', [1]) // sticks to 'default' after the write
 * })
 * ```
 */
export function createSwitchyard(options: SwitchyardOptions): Switchyard {
  return new Switchyard(options)
}

export { Switchyard }
export { TransactionScope } from './transaction-scope.js'
export type { CompoundResult } from './compound.js'
export type { Values } from './sql-builder.js'
export type { Executor, RoutedResult, RoutedTransactionOptions, SchemaApplier, SchemaRunOptions, StatementOptions, StatementQueryOptions, SwitchyardOptions, TransactionExecutor, TransactionModes } from './types.js'
