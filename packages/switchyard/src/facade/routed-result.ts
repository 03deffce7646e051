import type { QueryResult } from '../engines/types.js'
import type { RoutedResult } from './types.js'

/** The engine's result plus the alias; `fields` stays lazy (most callers never read it). */
export class RoutedQueryResult<R> implements RoutedResult<R> {
  readonly rows: R[]
  readonly rowCount: number
  readonly insertId?: bigint

  constructor(
    private readonly result: QueryResult<R>,
    readonly alias: string,
  ) {
    this.rows = result.rows
    this.rowCount = result.rowCount
    if (result.insertId !== undefined) this.insertId = result.insertId
  }

  get fields(): QueryResult<R>['fields'] {
    return this.result.fields
  }
}
