import { publicDetails } from './connection.js'
import type { DatabaseRow } from './pools.js'

/** A database as every endpoint returns it: the password never leaves the store. */
export function publicDatabase(db: DatabaseRow): Record<string, unknown> {
  return {
    id: db.id,
    name: db.name,
    engine: db.engine,
    details: publicDetails(db.details),
    router_database_id: db.router_database_id,
    router_user_attribute: db.router_user_attribute,
    is_destination_database: db.router_database_id !== null,
    created_at: db.created_at,
    updated_at: db.updated_at,
  }
}
