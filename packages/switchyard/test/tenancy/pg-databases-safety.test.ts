import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { QueryError, type EnginePool, type EngineSpec } from '../../src/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { TenantManager, TenantSchemaExistsError, type TenantMigration } from '../../src/tenancy/index.js'
import { PG_HOST, PG_PORT, PG_USER, createTempPgDatabase, dropPgDatabasesLike, pgAdmin, randomName, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'
import { base } from './fixtures.js'

const ok = await serviceAvailable('postgres')

describe.skipIf(!ok)('database-per-tenant on PostgreSQL: what provision may take, races with rollback, and a separate owner role', () => {
  let home: TempDatabase
  let admin: EnginePool
  const prefix = randomName('sy_tds')
  const connectAs = (user: string) => (database: string): EngineSpec => postgres({ host: PG_HOST, port: PG_PORT, user, database, max: 2 })
  const connect = connectAs(PG_USER)
  const onDatabase = async <T>(database: string, fn: (p: EnginePool) => Promise<T>): Promise<T> => {
    const p = postgres({ host: PG_HOST, port: PG_PORT, user: PG_USER, database, max: 1 }).createPool()
    try {
      return await fn(p)
    } finally {
      await p.close()
    }
  }
  const registry = async () => (await admin.query<{ k: string; m: string }>(`select tenant_key as k, migration as m from switchyard.tenant_migrations order by 1, 2`)).rows
  const keys = async (m: TenantManager) => (await m.list()).map((t) => t.key)

  beforeAll(async () => {
    home = await createTempPgDatabase('sy_tdshome')
    admin = postgres({ connectionString: home.connectionString, max: 4 }).createPool()
  })
  afterAll(async () => {
    await admin?.close()
    await dropPgDatabasesLike(prefix)
    await home?.drop()
  })

  it('refuses to adopt a database it did not create, keeps it whole, and takes it over only with { adopt: true }', async () => {
    const victim = `${prefix}_legacy`
    await pgAdmin((c) => c.query(`create database "${victim}"`))
    await onDatabase(victim, (p) => p.query(`create table precious (x int); insert into precious values (42)`))
    const manager = new TenantManager({ pool: admin, mapping: new Map([['evil', victim]]), migrations: base, databasePerTenant: { connect } })

    const err = await manager.provision('evil').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TenantSchemaExistsError)
    expect(err).toMatchObject({ tenant: 'evil', schema: victim, reason: 'exists', code: 'TENANT_SCHEMA_EXISTS' })
    expect((err as Error).message).toMatch(/adopt: true/)
    // Nothing registered, nothing migrated into it, its data untouched; drop has nothing to destroy.
    expect(await keys(manager)).not.toContain('evil')
    expect(await onDatabase(victim, (p) => p.query(`select to_regclass('public.orders') as t, (select x from precious) as x`))).toMatchObject({ rows: [{ t: null, x: 42 }] })
    await expect(manager.drop('evil', { confirm: 'evil' })).rejects.toThrow(/evil/)
    expect((await admin.query('select 1 from pg_database where datname = $1', [victim])).rows).toHaveLength(1)

    // An existing tenant database, taken over on purpose.
    expect(await manager.provision('evil', { adopt: true })).toEqual({ key: 'evil', schema: victim, created: false, migrated: ['001_orders', '002_seed'] })
    expect(await onDatabase(victim, (p) => p.query(`select (select count(*)::int from orders) as n, (select x from precious) as x`))).toMatchObject({ rows: [{ n: 2, x: 42 }] })
    // Re-running provision on a registered tenant resumes; it needs no adopt.
    expect(await manager.provision('evil')).toMatchObject({ created: false, migrated: [] })
  })

  it('never gives a tenant the admin database (it holds the registry), a template or postgres, even with { adopt: true }', async () => {
    const manager = new TenantManager({
      pool: admin,
      mapping: new Map([['h', home.name], ['tpl', 'template1'], ['pg', 'postgres'], ['t1', `${prefix}_t1`]]),
      migrations: base,
      databasePerTenant: { connect },
    })
    await manager.provision('t1')
    const before = await registry()
    for (const [k, why] of [['h', /admin database/], ['tpl', /template/], ['pg', /maintenance database/]] as const) {
      const err = await manager.provision(k, { adopt: true }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(TenantSchemaExistsError)
      expect(err).toMatchObject({ tenant: k, reason: 'reserved' })
      expect((err as Error).message).toMatch(why)
    }
    // The registry is as it was: no row for the refused keys, t1's rows untouched.
    expect(await registry()).toEqual(before)
    for (const k of ['h', 'tpl', 'pg']) expect(await keys(manager)).not.toContain(k)
  })

  it('a migrate racing a rollback leaves no stale registry copy: the copy always agrees with the tenant database', async () => {
    let onDown: (() => Promise<void>) | undefined
    const migrations: TenantMigration[] = [
      ...base,
      {
        name: '003_x',
        up: async (db) => void (await db.query('create table x (id int)')),
        down: async (db) => {
          await db.query('drop table x')
          await onDown?.()
        },
      },
    ]
    const mapping = `${prefix}_r{key}`
    const database = `${prefix}_ra`
    const m = new TenantManager({ pool: admin, mapping, migrations, databasePerTenant: { connect } })
    const other = new TenantManager({ pool: admin, mapping, migrations, databasePerTenant: { connect } })
    await m.provision('a')

    // While down() has deleted the tenant's record but not committed, another migrate starts; down waits until it blocks on the record.
    let concurrent: ReturnType<TenantManager['migrate']> | undefined
    onDown = async () => {
      concurrent = other.migrate({ tenants: ['a'] })
      for (let i = 0; i < 200; i++) {
        const { rows } = await admin.query(`select 1 from pg_stat_activity where datname = $1 and wait_event_type = 'Lock'`, [database])
        if (rows.length > 0) return
        await new Promise((r) => setTimeout(r, 25))
      }
      throw new Error('the concurrent migrate never waited on the record')
    }
    expect(await m.rollback('a')).toEqual(['003_x'])
    onDown = undefined
    const raced = await concurrent!
    expect(raced.failed).toEqual([])
    expect(raced.migrated).toEqual([])

    const truth = await onDatabase(database, (p) => p.query<{ m: string }>(`select migration as m from switchyard.tenant_migrations order by 1`))
    expect(truth.rows.map((r) => r.m)).toEqual(['001_orders', '002_seed'])
    expect((await registry()).filter((r) => r.k === 'a').map((r) => r.m)).toEqual(['001_orders', '002_seed'])
    // So the next migrate sees 003_x pending and applies it again.
    expect(await m.migrate({ tenants: ['a'] })).toMatchObject({ migrated: ['a'], failed: [] })
    expect(await onDatabase(database, (p) => p.query(`select to_regclass('public.x')::text as t`))).toMatchObject({ rows: [{ t: 'x' }] })
  })

  describe('a provisioner role creates, an application role owns and migrates', () => {
    const prov = randomName('sy_tdsprov')
    const app = randomName('sy_tdsapp')
    const mapping = `${prefix}_o_{key}`
    const registrySchema = prefix.replace(/^sy_/, 'r_')
    const registryName = { registryTable: `${registrySchema}.tenants`, statusTable: `${registrySchema}.tenant_migrations` }
    let provPool: EnginePool
    beforeAll(async () => {
      await pgAdmin(async (c) => {
        await c.query(`create role ${prov} login createdb`)
        await c.query(`create role ${app} login`)
        await c.query(`grant ${app} to ${prov}`)
        await c.query(`grant create on database "${home.name}" to ${prov}`)
      })
      provPool = postgres({ host: PG_HOST, port: PG_PORT, user: prov, database: home.name, max: 2 }).createPool()
    })
    afterAll(async () => {
      await provPool?.query(`drop schema if exists ${registrySchema} cascade`)
      await provPool?.close()
      await dropPgDatabasesLike(`${prefix}_o`)
      await pgAdmin(async (c) => {
        await c.query(`revoke create on database "${home.name}" from ${prov}`)
        await c.query(`drop role if exists ${prov}`)
        await c.query(`drop role if exists ${app}`)
      })
    })

    it('with owner, the application role migrates its own database; without, it is refused by PostgreSQL', async () => {
      const denied = new TenantManager({ pool: provPool, mapping, migrations: base, databasePerTenant: { connect: connectAs(app) }, ...registryName })
      const err = await denied.provision('a').catch((e: unknown) => e)
      expect(err).toBeInstanceOf(QueryError)
      expect((err as Error).message).toMatch(/permission denied/)

      const owned = new TenantManager({ pool: provPool, mapping, migrations: base, databasePerTenant: { connect: connectAs(app), owner: app }, ...registryName })
      expect(await owned.provision('b')).toMatchObject({ created: true, migrated: ['001_orders', '002_seed'] })
      const { rows } = await onDatabase(`${prefix}_o_b`, (p) =>
        p.query(`select pg_get_userbyid(d.datdba) as db_owner, (select tableowner from pg_tables where tablename = 'orders') as table_owner from pg_database d where datname = current_database()`),
      )
      expect(rows).toEqual([{ db_owner: app, table_owner: app }])
    })
  })
})
