import type { StatementQueryOptions } from './types.js'

/**
 * What of a caller's statement options goes on to the engine: its signal and row shape, never
 * a model or kind (routing's business) nor a schema (only routing sets one). A fresh object, so
 * nothing else the caller's object carries (a `schema` slipped in by untyped code, a schema
 * router's `strategy`) reaches the engine; `undefined` when there is neither, so a statement
 * called without options allocates nothing.
 */
export function queryOptionsOf(options: StatementQueryOptions | undefined): StatementQueryOptions | undefined {
  if (options === undefined) return undefined
  const { signal, rowMode } = options
  return signal === undefined && rowMode === undefined ? undefined : { signal, rowMode }
}
