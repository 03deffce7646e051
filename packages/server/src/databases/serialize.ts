import type { Principal } from '../auth/principal.js'
import { publicDetails } from './connection.js'
import type { DatabaseRow } from './pools.js'

/**
 * A database as every endpoint returns it: secrets never leave the store, and only admins see
 * connection details at all (hosts, users and database names are an attacker's map).
 */
export function publicDatabase(db: DatabaseRow, who: Principal): Record<string, unknown> {
  return {
    id: db.id,
    name: db.name,
    engine: db.engine,
    ...(who.isAdmin ? { details: publicDetails(db.details) } : {}),
    router_database_id: db.router_database_id,
    router_user_attribute: db.router_user_attribute,
    is_destination_database: db.router_database_id !== null,
    created_at: db.created_at,
    updated_at: db.updated_at,
  }
}
