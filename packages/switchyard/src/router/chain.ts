import type { RouteContext } from '../context/route-context.js'
import type { DatabaseRouter, ModelMeta, SchemaRoute } from './types.js'

/**
 * Asks routers in order; the first that implements the method and answers something other
 * than `undefined` wins. A router lacking the method is skipped.
 *
 * @example
 * ```ts
 * const chain = new RouterChain([{ dbForWrite: () => 'default' }, { dbForRead: () => 'replica', dbForWrite: () => 'other' }])
 * chain.dbForRead({}, emptyRouteContext)  // 'replica' (the first router has no dbForRead)
 * chain.dbForWrite({}, emptyRouteContext) // 'default' (the first router answers)
 * ```
 */
export class RouterChain {
  readonly #routers: readonly DatabaseRouter[]

  constructor(routers: readonly DatabaseRouter[]) {
    this.#routers = Object.freeze([...routers])
  }

  get size(): number {
    return this.#routers.length
  }

  dbForRead(model: ModelMeta, ctx: RouteContext): string | undefined {
    for (const r of this.#routers) {
      const alias = r.dbForRead?.(model, ctx)
      if (alias !== undefined) return alias
    }
    return undefined
  }

  dbForWrite(model: ModelMeta, ctx: RouteContext): string | undefined {
    for (const r of this.#routers) {
      const alias = r.dbForWrite?.(model, ctx)
      if (alias !== undefined) return alias
    }
    return undefined
  }

  allowRelation(a: ModelMeta, b: ModelMeta, ctx: RouteContext): boolean | undefined {
    for (const r of this.#routers) {
      const allowed = r.allowRelation?.(a, b, ctx)
      if (allowed !== undefined) return allowed
    }
    return undefined
  }

  allowMigrate(alias: string, model: ModelMeta): boolean | undefined {
    for (const r of this.#routers) {
      const allowed = r.allowMigrate?.(alias, model)
      if (allowed !== undefined) return allowed
    }
    return undefined
  }

  schemaFor(ctx: RouteContext, model: ModelMeta): string | undefined {
    return this.schemaRoute(ctx, model)?.schema
  }

  /** The first `schemaFor` answer, with the answering router's `schemaStrategy`. */
  schemaRoute(ctx: RouteContext, model: ModelMeta): SchemaRoute | undefined {
    for (const r of this.#routers) {
      const schema = r.schemaFor?.(ctx, model)
      if (schema !== undefined) return { schema, strategy: r.schemaStrategy }
    }
    return undefined
  }
}
