import pg from 'pg'
import { createTempPgDatabase, type TempDatabase } from '../../../../test-support/services.js'

/** A router database and destinations with the same tables and each its own rows. */
export async function tenantDatabases(names: readonly string[]): Promise<Map<string, TempDatabase>> {
  const out = new Map<string, TempDatabase>()
  for (const name of names) {
    const db = await createTempPgDatabase(`sy_srv_${name}`)
    const c = new pg.Client({ connectionString: db.connectionString })
    await c.connect()
    await c.query(`create table orders (id int primary key, tenant text not null, total numeric(10,2) not null, placed date not null)`)
    await c.query(`create table hits (who text)`)
    await c.query(`insert into orders select g, $1, g * 10.5, date '2026-01-01' + g from generate_series(1, 3) g`, [name])
    await c.end()
    out.set(name, db)
  }
  return out
}

export async function hitCount(db: TempDatabase): Promise<number> {
  const c = new pg.Client({ connectionString: db.connectionString })
  await c.connect()
  try {
    const { rows } = await c.query<{ n: number }>('select count(*)::int as n from hits')
    return rows[0]!.n
  } finally {
    await c.end()
  }
}

/** Metabase connection details for a test database. */
export function detailsOf(db: TempDatabase): Record<string, unknown> {
  return { host: db.host, port: db.port, dbname: db.name, user: db.user, password: 'unused-under-trust-auth', ssl: false }
}
