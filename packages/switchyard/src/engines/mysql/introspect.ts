import type { Queryable, TableInfo } from '../types.js'

interface ColumnRow {
  table_schema: string
  table_name: string
  column_name: string
  data_type: string
  is_nullable: string
  ordinal_position: number
}

/** Tables and columns of one database (MySQL's stand-in for a schema), default the current one. */
export async function introspectMysql(db: Queryable, database: string | undefined): Promise<TableInfo[]> {
  const { rows } = await db.query<ColumnRow>(
    `select table_schema as table_schema, table_name as table_name, column_name as column_name,
            data_type as data_type, is_nullable as is_nullable, ordinal_position as ordinal_position
       from information_schema.columns
      where table_schema = coalesce(?, database())
      order by table_name, ordinal_position`,
    [database ?? null],
  )
  const tables = new Map<string, { schema: string; name: string; columns: TableInfo['columns'][number][] }>()
  for (const r of rows) {
    let t = tables.get(r.table_name)
    if (!t) tables.set(r.table_name, (t = { schema: r.table_schema, name: r.table_name, columns: [] }))
    t.columns.push({ name: r.column_name, type: r.data_type.toLowerCase(), nullable: r.is_nullable === 'YES', position: Number(r.ordinal_position) })
  }
  return [...tables.values()]
}

export const SYSTEM_DATABASES = new Set(['information_schema', 'mysql', 'performance_schema', 'sys'])

/** mysql2 reports a column's type as a protocol code; these are their names. */
const MYSQL_TYPE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0: 'decimal', 1: 'tinyint', 2: 'smallint', 3: 'int', 4: 'float', 5: 'double', 6: 'null', 7: 'timestamp', 8: 'bigint',
  9: 'mediumint', 10: 'date', 11: 'time', 12: 'datetime', 13: 'year', 15: 'varchar', 16: 'bit', 245: 'json',
  246: 'decimal', 247: 'enum', 248: 'set', 249: 'tinyblob', 250: 'mediumblob', 251: 'longblob', 252: 'text', 253: 'varchar', 254: 'char',
})

export function mysqlTypeName(code: number | undefined): string {
  return code === undefined ? 'unknown' : (MYSQL_TYPE_NAMES[code] ?? `type:${code}`)
}
