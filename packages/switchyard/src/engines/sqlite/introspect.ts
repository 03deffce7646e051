import type { Queryable, TableInfo } from '../types.js'

/** Tables and views of the main database or an attached one, with pragma_table_info columns. */
export async function introspectSqlite(db: Queryable, quote: (n: string) => string, schema: string | undefined): Promise<TableInfo[]> {
  const s = schema ?? 'main'
  const { rows: tables } = await db.query<{ name: string }>(
    `select name from ${quote(s)}.sqlite_schema where type in ('table', 'view') and name not like 'sqlite_%' order by name`,
  )
  const out: TableInfo[] = []
  for (const t of tables) {
    const { rows } = await db.query<{ name: string; type: string; notnull: number; pk: number; cid: number }>(
      'select name, type, "notnull", pk, cid from pragma_table_info(?, ?) order by cid',
      [t.name, s],
    )
    out.push({
      schema: s,
      name: t.name,
      columns: rows.map((c) => ({ name: c.name, type: c.type.toLowerCase(), nullable: c.notnull === 0 && c.pk === 0, position: c.cid + 1 })),
    })
  }
  return out
}
