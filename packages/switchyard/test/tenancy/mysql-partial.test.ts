import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EnginePool } from '../../src/index.js'
import { mysql } from '../../src/engines/mysql/index.js'
import { TenantManager, TenantMigrationPartialError, type TenantMigration } from '../../src/tenancy/index.js'
import { mayCommitImplicitly } from '../../src/tenancy/implicit-commit.js'
import { createTempMysqlDatabase, dropMysqlDatabasesLike, randomName, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'
import { portableBase } from './portable-fixtures.js'

const ok = await serviceAvailable('mysql')

describe('which statements may commit by themselves on MySQL', () => {
  it('reads and row changes do not; DDL, TRUNCATE, CALL and anything unknown may', () => {
    for (const sql of ['select 1', '  /* c */ (select 1)', '-- c\ninsert into t values (1)', '# c\nupdate t set a = 1', 'DELETE FROM t', 'replace into t values (1)', 'with x as (select 1) select * from x']) {
      expect(mayCommitImplicitly(sql), sql).toBe(false)
    }
    for (const sql of ['create table t (a int)', ' ALTER TABLE t add b int', 'drop table t', 'truncate t', 'rename table a to b', 'call p()', 'lock tables t write', 'grant select on t to u', '', '/* only a comment */']) {
      expect(mayCommitImplicitly(sql), sql).toBe(true)
    }
  })
})

describe.skipIf(!ok)('a MariaDB migration that fails after part of it committed', () => {
  let home: TempDatabase
  let pool: EnginePool
  const prefix = randomName('sy_tp')
  const mapping = `${prefix}_{key}`
  const db = (k: string) => `\`${prefix}_${k}\``
  const state = async (tenant: string, migration: string) =>
    (await pool.query<{ state: string; error: string | null }>(`select state, error from switchyard_tenant_migrations where tenant_key = ? and migration = ?`, [tenant, migration])).rows[0]

  beforeAll(async () => {
    home = await createTempMysqlDatabase('sy_tphome')
    pool = mysql({ connectionString: home.connectionString, max: 4 }).createPool()
  })
  afterAll(async () => {
    await pool?.close()
    await dropMysqlDatabasesLike(prefix)
    await home?.drop()
  })

  it('is reported as partial, not retried by the next migrate, and runs again only once resolved', async () => {
    let runs = 0
    // Its first statement commits (DDL); the second fails while a duplicate qty exists.
    const twoSteps: TenantMigration = {
      name: '003_two_steps',
      async up(db) {
        runs++
        await db.query('create table audit (id int primary key)')
        await db.query('create unique index orders_qty on orders (qty)')
      },
    }
    await new TenantManager({ pool, mapping, migrations: portableBase }).provision('p1')
    await pool.query(`insert into ${db('p1')}.orders (id, qty, tenant) values (3, 5, 'p1')`)
    const manager = new TenantManager({ pool, mapping, migrations: [...portableBase, twoSteps] })

    const first = await manager.migrate({ tenants: ['p1'] })
    expect(first.failed).toHaveLength(1)
    const error = first.failed[0]!.error
    expect(error).toBeInstanceOf(TenantMigrationPartialError)
    expect(error.message).toMatch(/failed after part of it was committed \(.*Duplicate.*\).*tenants\.resolve\('p1', '003_two_steps', 'applied'\)/)
    expect((error.cause as Error).message).toMatch(/Duplicate/)
    expect(await state('p1', '003_two_steps')).toMatchObject({ state: 'partial', error: expect.stringMatching(/Duplicate/) })
    // The table its first statement made is really there: a blind retry would fail on it forever.
    expect((await pool.query(`select 1 from information_schema.tables where table_schema = ? and table_name = 'audit'`, [`${prefix}_p1`])).rows).toHaveLength(1)

    // Rerun, provision and rollback all refuse to go past it; up() is not called again.
    const second = await manager.migrate({ tenants: ['p1'] })
    expect(second.failed[0]?.error).toBeInstanceOf(TenantMigrationPartialError)
    expect(second.failed[0]?.error.message).toMatch(/Duplicate/)
    await expect(manager.provision('p1')).rejects.toBeInstanceOf(TenantMigrationPartialError)
    await expect(manager.rollback('p1')).rejects.toBeInstanceOf(TenantMigrationPartialError)
    expect(runs).toBe(1)

    // As the message says: undo by hand, resolve as pending, and the next migrate runs it whole.
    await pool.query(`drop table ${db('p1')}.audit`)
    await pool.query(`delete from ${db('p1')}.orders where id = 3`)
    await manager.resolve('p1', '003_two_steps', 'pending')
    expect(await manager.migrate({ tenants: ['p1'] })).toMatchObject({ migrated: ['p1'], failed: [] })
    expect(runs).toBe(2)
    expect(await state('p1', '003_two_steps')).toMatchObject({ state: 'applied' })
  })

  it('counts rows written before a failing DDL statement as committed: MySQL commits them before the DDL runs', async () => {
    const rowThenDdl: TenantMigration = {
      name: '003_row_then_ddl',
      async up(db) {
        await db.query(`insert into applied (name) values ('003')`)
        await db.query('create table orders (id int)') // exists already: fails after the implicit commit
      },
    }
    await new TenantManager({ pool, mapping, migrations: portableBase }).provision('p2')
    const manager = new TenantManager({ pool, mapping, migrations: [...portableBase, rowThenDdl] })
    const { failed } = await manager.migrate({ tenants: ['p2'] })
    expect(failed[0]?.error).toBeInstanceOf(TenantMigrationPartialError)
    // Why it is not retried: the row survived the migration's rollback.
    expect((await pool.query(`select name from ${db('p2')}.applied`)).rows).toEqual([{ name: '003' }])
    await manager.resolve('p2', '003_row_then_ddl', 'applied')
    expect(await manager.migrate({ tenants: ['p2'] })).toMatchObject({ skipped: ['p2'], failed: [] })
  })

  it('a failure before anything committed stays retryable: rows written in the migration roll back and the rerun applies it', async () => {
    let fail = true
    const rowsThenThrow: TenantMigration = {
      name: '003_rows_then_throw',
      async up(db) {
        await db.query(`insert into applied (name) values ('003')`)
        if (fail) throw new Error('computed value out of range')
      },
    }
    await new TenantManager({ pool, mapping, migrations: portableBase }).provision('p3')
    const manager = new TenantManager({ pool, mapping, migrations: [...portableBase, rowsThenThrow] })
    const first = await manager.migrate({ tenants: ['p3'] })
    expect(first.failed[0]?.error.message).toBe('computed value out of range')
    expect(first.failed[0]?.error).not.toBeInstanceOf(TenantMigrationPartialError)
    expect(await state('p3', '003_rows_then_throw')).toMatchObject({ state: 'failed' })
    expect((await pool.query(`select name from ${db('p3')}.applied`)).rows).toEqual([])
    fail = false
    expect(await manager.migrate({ tenants: ['p3'] })).toMatchObject({ migrated: ['p3'], failed: [] })
    expect((await pool.query(`select name from ${db('p3')}.applied`)).rows).toEqual([{ name: '003' }])
  })
})
