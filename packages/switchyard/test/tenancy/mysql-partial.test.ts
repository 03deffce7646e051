import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EnginePool } from '../../src/index.js'
import { mysql } from '../../src/engines/mysql/index.js'
import { TenantManager, TenantMigrationPartialError, type TenantMigration } from '../../src/tenancy/index.js'
import { CommitTracker, mayCommitImplicitly, statementEffect } from '../../src/tenancy/implicit-commit.js'
import { QueryError } from '../../src/errors.js'
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

  it('reads and session SETs change nothing; locking reads, SELECT ... INTO and calls of functions that may be stored ones count as writes', () => {
    for (const sql of [
      "select count(*) as n from information_schema.columns where table_schema = database() and table_name = 'orders'",
      'show tables',
      'describe orders',
      'explain select * from orders',
      'select exists(select 1 from t where a in (1, 2))',
      'set foreign_key_checks = 0',
      "set @@session.sql_mode = concat(@@sql_mode, ',NO_ZERO_DATE')",
      'set @n := 1',
      'set names utf8mb4',
      'set session transaction isolation level read committed',
    ]) {
      expect(statementEffect(sql), sql).toBe('read')
    }
    for (const sql of [
      'insert into t values (1)',
      'select * from t for update',
      'select * from t lock in share mode',
      'select a into @a from t',
      'select my_fn(1)',
      'select db.fn(1)',
      'explain analyze select * from t',
      'with x as (select 1) update t set a = 1',
      'set @a = my_fn()',
      'set statement foreign_key_checks = 0 for insert into t values (1)',
    ]) {
      expect(statementEffect(sql), sql).toBe('write')
    }
    // These outlive the rollback (or commit the open transaction) even as a migration's first statement.
    for (const sql of ['set autocommit = 1', 'set @@autocommit = 1', 'set global max_connections = 10', "set @@global.sql_mode = ''", "select 1 into outfile '/tmp/x'"]) {
      expect(statementEffect(sql), sql).toBe('commit')
    }
  })

  it('single-object DDL is atomic; DDL naming several objects, CREATE OR REPLACE TABLE and unknown statements may fail half done', () => {
    for (const sql of ['create table t (a int, b int)', 'create unique index i on t (a, b)', 'alter table t add column a int, add column b int', 'drop table if exists t', 'drop index i on t', 'rename table a to b', 'truncate table t', 'create or replace view v as select a, b from t', "create definer = 'u'@'%' sql security invoker view v as select 1", 'create procedure p() begin drop table a; drop table b; end']) {
      expect(statementEffect(sql), sql).toBe('commit')
    }
    for (const sql of ['drop table a, b', 'drop table if exists a, b', 'drop view v, w', 'drop sequence s, r', 'rename table a to b, c to d', 'create or replace table t (a int)', 'drop database d', 'call p()', 'grant select on t to u', 'set statement foreign_key_checks = 0 for drop table a, b', 'select 1; drop table t', '/*!50000 select 1 */', 'creat table t (a int)', 'create frobnicator f on table t']) {
      expect(statementEffect(sql), sql).toBe('commit-partial')
    }
  })

  it('a DDL statement whose connection broke before the server answered may have run', async () => {
    const lost = () => Promise.reject(new QueryError('Connection lost: The server closed the connection.', 'PROTOCOL_CONNECTION_LOST', { cause: Object.assign(new Error('lost'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true }) }))
    const refused = () => Promise.reject(new QueryError("Table 'orders' already exists", '42S01', { cause: Object.assign(new Error('exists'), { errno: 1050, sqlState: '42S01' }) }))
    const ddlLost = new CommitTracker()
    await expect(ddlLost.track('create table orders (id int)', lost)).rejects.toThrow(/lost/)
    expect(ddlLost.committed).toBe(true)
    const ddlRefused = new CommitTracker()
    await expect(ddlRefused.track('create table orders (id int)', refused)).rejects.toThrow(/exists/)
    expect(ddlRefused.committed).toBe(false)
    // A broken connection ends the transaction on the server, which rolls the row back.
    const rowLost = new CommitTracker()
    await expect(rowLost.track('insert into t values (1)', lost)).rejects.toThrow(/lost/)
    expect(rowLost.committed).toBe(false)
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

  it('a session SET and rows written before a failing row change commit nothing: failed, rolled back, and the rerun applies it once fixed', async () => {
    let runs = 0
    let id = 100
    const setThenRows: TenantMigration = {
      name: '003_set_then_rows',
      async up(db) {
        runs++
        await db.query('set foreign_key_checks = 0')
        await db.query(`insert into orders (id, qty, tenant) values (100, 1, 'x')`)
        await db.query(`insert into orders (id, qty, tenant) values (${id}, 1, 'x')`) // 100 again: duplicate key
      },
    }
    await new TenantManager({ pool, mapping, migrations: portableBase }).provision('p4')
    const manager = new TenantManager({ pool, mapping, migrations: [...portableBase, setThenRows] })
    const first = await manager.migrate({ tenants: ['p4'] })
    expect(first.failed[0]?.error.message).toMatch(/Duplicate/)
    expect(first.failed[0]?.error).not.toBeInstanceOf(TenantMigrationPartialError)
    expect(await state('p4', '003_set_then_rows')).toMatchObject({ state: 'failed' })
    expect((await pool.query(`select id from ${db('p4')}.orders where id >= 100`)).rows).toEqual([])
    id = 101
    expect(await manager.migrate({ tenants: ['p4'] })).toMatchObject({ migrated: ['p4'], failed: [] })
    expect(runs).toBe(2)
    expect((await pool.query(`select id from ${db('p4')}.orders where id >= 100 order by id`)).rows).toEqual([{ id: 100 }, { id: 101 }])
  })

  it('a read before a failing DDL statement leaves nothing for its implicit commit to keep: failed, and retried', async () => {
    let runs = 0
    let column = 'note'
    const checkThenAlter: TenantMigration = {
      name: '003_check_then_alter',
      async up(db) {
        runs++
        const { rows } = await db.query<{ n: number }>(
          `select count(*) as n from information_schema.columns where table_schema = database() and table_name = 'orders' and column_name = 'note'`,
        )
        if (Number(rows[0]!.n) === 0) await db.query(`alter table orders add column note int, add column ${column} int`) // duplicate column until fixed
      },
    }
    await new TenantManager({ pool, mapping, migrations: portableBase }).provision('p5')
    const manager = new TenantManager({ pool, mapping, migrations: [...portableBase, checkThenAlter] })
    const first = await manager.migrate({ tenants: ['p5'] })
    expect(first.failed[0]?.error.message).toMatch(/Duplicate column/)
    expect(first.failed[0]?.error).not.toBeInstanceOf(TenantMigrationPartialError)
    expect(await state('p5', '003_check_then_alter')).toMatchObject({ state: 'failed' })
    column = 'memo'
    expect(await manager.migrate({ tenants: ['p5'] })).toMatchObject({ migrated: ['p5'], failed: [] })
    expect(runs).toBe(2)
    const columns = await pool.query(`select column_name as c from information_schema.columns where table_schema = ? and column_name in ('note', 'memo') order by 1`, [`${prefix}_p5`])
    expect(columns.rows).toEqual([{ c: 'memo' }, { c: 'note' }])
  })

  it('a DROP TABLE of several tables that fails half way is partial: MariaDB has already dropped the ones before the failure', async () => {
    let runs = 0
    const dropTwo: TenantMigration = {
      name: '003_drop_two',
      async up(db) {
        runs++
        await db.query('drop table orders, no_such_table')
      },
    }
    await new TenantManager({ pool, mapping, migrations: portableBase }).provision('p6')
    const manager = new TenantManager({ pool, mapping, migrations: [...portableBase, dropTwo] })
    const first = await manager.migrate({ tenants: ['p6'] })
    expect(first.failed[0]?.error).toBeInstanceOf(TenantMigrationPartialError)
    expect(first.failed[0]?.error.message).toMatch(/no_such_table/)
    expect(await state('p6', '003_drop_two')).toMatchObject({ state: 'partial' })
    // Why: the first table is gone although the statement failed.
    expect((await pool.query(`select 1 from information_schema.tables where table_schema = ? and table_name = 'orders'`, [`${prefix}_p6`])).rows).toEqual([])
    expect((await manager.migrate({ tenants: ['p6'] })).failed[0]?.error).toBeInstanceOf(TenantMigrationPartialError)
    expect(runs).toBe(1)
    await manager.resolve('p6', '003_drop_two', 'applied')
    expect(await manager.migrate({ tenants: ['p6'] })).toMatchObject({ skipped: ['p6'], failed: [] })
  })

  it('a failed CREATE OR REPLACE TABLE is partial even as the first statement: MariaDB drops the old table before creating the new one', async () => {
    const replace: TenantMigration = {
      name: '003_replace_orders',
      async up(db) {
        await db.query('create or replace table orders (id int, id int)') // duplicate column
      },
    }
    await new TenantManager({ pool, mapping, migrations: portableBase }).provision('p7')
    const { failed } = await new TenantManager({ pool, mapping, migrations: [...portableBase, replace] }).migrate({ tenants: ['p7'] })
    expect(failed[0]?.error).toBeInstanceOf(TenantMigrationPartialError)
    expect((await pool.query(`select 1 from information_schema.tables where table_schema = ? and table_name = 'orders'`, [`${prefix}_p7`])).rows).toEqual([])
  })

  it('reads and session SETs do not hide a row written before a failing DDL statement: still partial', async () => {
    const mixed: TenantMigration = {
      name: '003_mixed',
      async up(db) {
        await db.query('set foreign_key_checks = 0')
        await db.query(`select count(*) from information_schema.tables where table_schema = database()`)
        await db.query(`insert into applied (name) values ('003')`)
        await db.query('show tables')
        await db.query('alter table orders add column qty int') // duplicate column: fails after the implicit commit
      },
    }
    await new TenantManager({ pool, mapping, migrations: portableBase }).provision('p8')
    const { failed } = await new TenantManager({ pool, mapping, migrations: [...portableBase, mixed] }).migrate({ tenants: ['p8'] })
    expect(failed[0]?.error).toBeInstanceOf(TenantMigrationPartialError)
    expect(await state('p8', '003_mixed')).toMatchObject({ state: 'partial' })
    expect((await pool.query(`select name from ${db('p8')}.applied`)).rows).toEqual([{ name: '003' }])
  })
})
