import type { Principal } from '../auth/principal.js'
import type { DatabaseRow } from '../databases/pools.js'
import { badRequest } from '../http/errors.js'
import type { ServerContext } from '../context.js'

/** Attribute values that mean "the router database itself", for any user. */
export const PRIMARY_SENTINELS: ReadonlySet<string> = new Set(['__METABASE_PRIMARY_DB__', '__METABASE_ROUTER__'])

export const MISSING_ATTRIBUTE = 'Required user attribute is missing. Cannot route to a Destination Database.'

/**
 * Where a question built on `db` runs for `who`, by the documented rules: routing off → `db`;
 * a destination slug → that destination; a primary sentinel → the router; no value → the
 * router for an admin and a refusal for anyone else; an unknown slug → a refusal. A refusal
 * is thrown before anything runs anywhere.
 *
 * @example
 * ```ts
 * const target = await resolveTarget(ctx, routerDb, { kind: 'user', isAdmin: false, attributes: { tenant: 'acme' } })
 * ```
 */
export async function resolveTarget(ctx: Pick<ServerContext, 'store' | 'metadata'>, db: DatabaseRow, who: Principal): Promise<DatabaseRow> {
  const attribute = db.router_user_attribute
  if (!attribute) return db
  // Own keys only: an attribute named `constructor` must not read Object.prototype for a user without it.
  const value = Object.hasOwn(who.attributes, attribute) ? who.attributes[attribute] : undefined
  if (value === undefined || value === '') {
    if (who.isAdmin) return db
    throw badRequest(MISSING_ATTRIBUTE)
  }
  if (PRIMARY_SENTINELS.has(value)) return db
  const destination = await ctx.metadata.get(`dest:${db.id}:${value}`, async () =>
    (await ctx.store.query<DatabaseRow>('select * from databases where router_database_id = $1 and name = $2', [db.id, value])).rows[0],
  )
  if (!destination) throw badRequest(`No Destination Database with slug \`${value}\` found.`)
  return destination
}
