import type { Queryable, TableInfo } from '../types.js'
import { quoteWith } from '../shared/transaction.js'

interface ColumnRow {
  table_schema: string
  table_name: string
  column_name: string
  data_type: string
  is_nullable: string
  ordinal_position: number
}

/**
 * Tables (and views) with their columns, from information_schema, for one schema.
 * PostgreSQL and PGlite share this: PGlite is PostgreSQL.
 */
export async function introspectPostgres(db: Queryable, schema: string | undefined): Promise<TableInfo[]> {
  const { rows } = await db.query<ColumnRow>(
    `select c.table_schema, c.table_name, c.column_name, c.data_type, c.is_nullable, c.ordinal_position::int as ordinal_position
       from information_schema.columns c
       join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
      where c.table_schema = coalesce($1, current_schema())
      order by c.table_name, c.ordinal_position`,
    [schema ?? null],
  )
  const tables = new Map<string, { schema: string; name: string; columns: TableInfo['columns'][number][] }>()
  for (const r of rows) {
    let t = tables.get(r.table_name)
    if (!t) tables.set(r.table_name, (t = { schema: r.table_schema, name: r.table_name, columns: [] }))
    t.columns.push({ name: r.column_name, type: r.data_type.toLowerCase(), nullable: r.is_nullable === 'YES', position: r.ordinal_position })
  }
  return [...tables.values()]
}

export const LIST_SCHEMAS_SQL = `select nspname as name from pg_namespace
  where nspname not in ('pg_catalog', 'information_schema', 'pg_toast') and nspname not like 'pg_temp_%' and nspname not like 'pg_toast_temp_%'
  order by nspname`

/** Built-in type names by OID, for result fields (the wire protocol gives only the OID). */
const PG_TYPE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  16: 'bool', 17: 'bytea', 18: 'char', 19: 'name', 20: 'int8', 21: 'int2', 23: 'int4', 25: 'text', 26: 'oid',
  114: 'json', 700: 'float4', 701: 'float8', 1042: 'bpchar', 1043: 'varchar', 1082: 'date', 1083: 'time',
  1114: 'timestamp', 1184: 'timestamptz', 1186: 'interval', 1266: 'timetz', 1700: 'numeric', 2950: 'uuid', 3802: 'jsonb',
})

export function pgTypeName(oid: number): string {
  return PG_TYPE_NAMES[oid] ?? `oid:${oid}`
}

/** Schema DDL shared by the PostgreSQL and PGlite pools (PGlite is PostgreSQL). */
export const postgresSchemas = Object.freeze({
  async create(db: Queryable, name: string): Promise<void> {
    await db.query(`create schema ${quoteWith('"', name)}`)
  },
  async drop(db: Queryable, name: string, cascade: boolean | undefined): Promise<void> {
    await db.query(`drop schema if exists ${quoteWith('"', name)}${cascade ? ' cascade' : ''}`)
  },
  async list(db: Queryable): Promise<string[]> {
    const { rows } = await db.query<{ name: string }>(LIST_SCHEMAS_SQL)
    return rows.map((r) => r.name)
  },
})
