import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postgres } from '../../src/engines/postgres/index.js'
import type { EnginePool } from '../../src/engines/types.js'
import { createTempPgDatabase, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'

const ok = await serviceAvailable('postgres')

describe.skipIf(!ok)('postgres engine smoke', () => {
  let db: TempDatabase
  let pool: EnginePool
  beforeAll(async () => {
    db = await createTempPgDatabase()
    pool = postgres({ connectionString: db.connectionString, max: 2 }).createPool()
  })
  afterAll(async () => {
    await pool?.close()
    await db?.drop()
  })
  it('runs a parameterised statement', async () => {
    const r = await pool.query<{ n: number }>('select $1::int + 1 as n', [41])
    expect(r.rows).toEqual([{ n: 42 }])
    expect(r.rowCount).toBe(1)
  })
  it('scopes a schema to one statement', async () => {
    await pool.createSchema('t_a')
    await pool.query('create table t_a.x (v text)')
    await pool.query(`insert into t_a.x values ('a')`)
    const r = await pool.query<{ v: string }>('select v from x', [], { schema: 't_a' })
    expect(r.rows).toEqual([{ v: 'a' }])
    const sp = await pool.query<{ p: string }>('show search_path')
    expect(sp.rows[0]?.p ?? Object.values(sp.rows[0] ?? {})[0]).not.toContain('t_a')
  })
})
