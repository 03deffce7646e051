import type { RouteContext } from '../context/route-context.js'
import type { SchemaStrategy } from '../schema/schema-router.js'

/**
 * What a router knows about the model a statement is for. `table` is absent for statements
 * that name no model (a bare transaction, raw SQL without `{ model }`).
 */
export interface ModelMeta {
  readonly table?: string
  /** The alias this model is pinned to statically, if any. */
  readonly database?: string
  /** The module (app, bounded context) the model belongs to; modules may pin a database too. */
  readonly module?: string
}

/**
 * Takes routing decisions over, per statement. Every method is optional and may return
 * `undefined` to pass: routers chain, and the first one that answers wins. With none
 * answering, routing is static (the model's database, else its module's, else `default`).
 *
 * @example
 * ```ts
 * const replicas: DatabaseRouter = {
 *   dbForRead: () => 'replica',
 *   dbForWrite: () => 'default',
 * }
 * const perTenant: DatabaseRouter = {
 *   dbForRead: (_m, ctx) => (ctx.tenant ? `tenant:${ctx.tenant}` : undefined),
 *   dbForWrite: (_m, ctx) => (ctx.tenant ? `tenant:${ctx.tenant}` : undefined),
 * }
 * createSwitchyard({ databases, routers: [perTenant, replicas] })
 * ```
 */
export interface DatabaseRouter {
  dbForRead?(model: ModelMeta, ctx: RouteContext): string | undefined
  dbForWrite?(model: ModelMeta, ctx: RouteContext): string | undefined
  /** Whether a statement may relate (join) tables of these two models. */
  allowRelation?(a: ModelMeta, b: ModelMeta, ctx: RouteContext): boolean | undefined
  /** Whether migrations for `model` may run on `alias`. */
  allowMigrate?(alias: string, model: ModelMeta): boolean | undefined
  /** The schema this context's statements for `model` run in (schema routing). */
  schemaFor?(ctx: RouteContext, model: ModelMeta): string | undefined
  /**
   * How this router's `schemaFor` answers are applied, overriding the Switchyard-wide
   * `schemaRouting.strategy`: `qualify` rewrites table names, `transaction` runs each
   * statement in a transaction with a local search_path.
   */
  readonly schemaStrategy?: SchemaStrategy
}

/** A `schemaFor` answer with the strategy of the router that gave it. */
export interface SchemaRoute {
  readonly schema: string
  readonly strategy: SchemaStrategy | undefined
}

export type RouteKind = 'read' | 'write'
export type RouteReason = 'router' | 'static' | 'override' | 'transaction' | 'sticky' | 'compound'

/** Reported to `onRoute` for every routed statement, transaction and compound operation. */
export interface RouteDecision {
  readonly alias: string
  readonly kind: RouteKind
  readonly reason: RouteReason
  readonly model: ModelMeta
  /** The schema applied, when schema routing answered. */
  readonly schema?: string
}
