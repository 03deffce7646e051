import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSwitchyard, InvalidSchemaNameError, withRouteContext, ConfigurationError, type EnginePool, type EngineSpec } from '../../src/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { pglite } from '../../src/engines/pglite/index.js'
import { TenantDropNotConfirmedError, TenantManager, type TenantMigration } from '../../src/tenancy/index.js'
import { PG_HOST, PG_PORT, PG_USER, createTempPgDatabase, dropPgDatabasesLike, randomName, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'
import { base, positive } from './fixtures.js'

const ok = await serviceAvailable('postgres')

const TENANTS = 12
const key = (i: number) => `t${String(i).padStart(2, '0')}`
const keys = Array.from({ length: TENANTS }, (_, i) => key(i))
const BAD = key(5)

describe.skipIf(!ok)(`database-per-tenant on PostgreSQL over ${TENANTS} tenant databases`, () => {
  let home: TempDatabase
  let admin: EnginePool
  const prefix = randomName('sy_tdb')
  const mapping = `${prefix}_{key}`
  const dbOf = (k: string) => `${prefix}_${k}`
  const opened: string[] = []
  const connect = (database: string): EngineSpec => {
    opened.push(database)
    return postgres({ host: PG_HOST, port: PG_PORT, user: PG_USER, database, max: 2 })
  }
  const onTenant = async <T>(k: string, fn: (p: EnginePool) => Promise<T>): Promise<T> => {
    const p = postgres({ host: PG_HOST, port: PG_PORT, user: PG_USER, database: dbOf(k), max: 1 }).createPool()
    try {
      return await fn(p)
    } finally {
      await p.close()
    }
  }
  const databases = async () =>
    (await admin.query<{ d: string }>(`select datname as d from pg_database where datname like $1 order by 1`, [`${prefix}\\_%`])).rows.map((r) => r.d)

  beforeAll(async () => {
    home = await createTempPgDatabase('sy_tdbhome')
    admin = postgres({ connectionString: home.connectionString, max: 4 }).createPool()
  })
  afterAll(async () => {
    await admin?.close()
    await dropPgDatabasesLike(prefix)
    await home?.drop()
  })

  it('provisions a database per tenant, keeps the registry on the admin database, and routes each tenant to its own', async () => {
    const manager = new TenantManager({ pool: admin, mapping, migrations: base, databasePerTenant: { connect } })
    for (const k of keys) expect(await manager.provision(k)).toEqual({ key: k, schema: dbOf(k), created: true, migrated: ['001_orders', '002_seed'] })
    expect(await databases()).toEqual(keys.map(dbOf))
    expect((await manager.list()).map((t) => [t.key, t.schema])).toEqual(keys.map((k) => [k, dbOf(k)]))
    // No tenant table landed on the admin database: only the registry and the status copy.
    const homeTables = await admin.query<{ t: string }>(`select table_schema || '.' || table_name as t from information_schema.tables where table_schema not in ('pg_catalog', 'information_schema') order by 1`)
    expect(homeTables.rows.map((r) => r.t)).toEqual(['switchyard.tenant_migrations', 'switchyard.tenants'])
    // Each tenant database holds its own tables and its own record of what was applied.
    expect(await onTenant('t03', (p) => p.query(`select migration from switchyard.tenant_migrations order by 1`))).toMatchObject({ rows: [{ migration: '001_orders' }, { migration: '002_seed' }] })
    expect(await manager.provision('t03')).toEqual({ key: 't03', schema: dbOf('t03'), created: false, migrated: [] })

    const sy = createSwitchyard({
      databases: {},
      routers: [{ dbForRead: (_m, ctx) => (ctx.tenant ? `tenant:${ctx.tenant}` : undefined), dbForWrite: (_m, ctx) => (ctx.tenant ? `tenant:${ctx.tenant}` : undefined) }],
      resolveAlias: (alias) => (alias.startsWith('tenant:') ? postgres({ host: PG_HOST, port: PG_PORT, user: PG_USER, database: dbOf(alias.slice(7)), max: 1 }) : undefined),
    })
    try {
      for (const k of keys) {
        const { rows } = await withRouteContext({ tenant: k }, () => sy.read<{ tenant: string }>('select tenant from orders order by id'))
        expect(rows).toEqual([{ tenant: k }, { tenant: k }])
      }
    } finally {
      await sy.close()
    }
  })

  it(`migrates ${TENANTS - 1} tenant databases when one fails, leaves the failing one untouched, and a rerun after the fix finishes it`, async () => {
    await onTenant(BAD, (p) => p.query(`insert into orders values (3, -1, $1)`, [BAD]))
    const manager = new TenantManager({ pool: admin, mapping, migrations: [...base, positive], databasePerTenant: { connect } })
    const first = await manager.migrate({ concurrency: 4 })
    expect(first.migrated.sort()).toEqual(keys.filter((k) => k !== BAD))
    expect(first.failed).toHaveLength(1)
    expect(first.failed[0]).toMatchObject({ tenant: BAD, migration: '003_positive_qty' })
    expect(first.failed[0]!.error.message).toMatch(/qty_positive/)
    // Transactional DDL: nothing of the failed migration is in the tenant database, not even its status row.
    expect(await onTenant(BAD, (p) => p.query(`select count(*)::int as n from applied`))).toMatchObject({ rows: [{ n: 0 }] })
    expect(await onTenant(BAD, (p) => p.query(`select 1 from switchyard.tenant_migrations where migration = '003_positive_qty'`))).toMatchObject({ rows: [] })

    await onTenant(BAD, (p) => p.query(`delete from orders where id = 3`))
    const second = await manager.migrate({ concurrency: 4 })
    expect(second).toMatchObject({ migrated: [BAD], failed: [] })
    expect(second.skipped).toHaveLength(TENANTS - 1)

    // With nothing to apply, migrate reads the registry's copy and opens no tenant database.
    opened.length = 0
    expect((await manager.migrate()).skipped).toHaveLength(TENANTS)
    expect(opened).toEqual([])
  })

  it('finds a migration applied but not copied to the registry (a crash between the two) and does not run it again', async () => {
    let runs = 0
    const counted: TenantMigration = { name: '004_counted', up: async (db) => void (runs++, await db.query(`insert into applied values ('004')`)) }
    const manager = new TenantManager({ pool: admin, mapping, migrations: [...base, positive, counted], databasePerTenant: { connect } })
    expect((await manager.migrate({ tenants: ['t01', 't02'] })).migrated.sort()).toEqual(['t01', 't02'])
    expect(runs).toBe(2)
    // The copy is lost, as if the process died right after the tenant's commit.
    await admin.query(`delete from switchyard.tenant_migrations where tenant_key = 't01' and migration = '004_counted'`)
    const again = await manager.migrate({ tenants: ['t01', 't02'] })
    expect(again).toMatchObject({ migrated: [], failed: [] })
    expect(again.skipped.sort()).toEqual(['t01', 't02'])
    expect(runs).toBe(2)
    expect((await admin.query(`select 1 from switchyard.tenant_migrations where tenant_key = 't01' and migration = '004_counted'`)).rows).toHaveLength(1)
    expect(await onTenant('t01', (p) => p.query(`select name from applied where name = '004'`))).toMatchObject({ rows: [{ name: '004' }] })
  })

  it('two migrators at once (one through createSwitchyard) apply each migration to each tenant database exactly once', async () => {
    const runs = new Map<string, number>()
    const slow: TenantMigration = {
      name: '005_slow',
      async up(db) {
        runs.set(db.tenant, (runs.get(db.tenant) ?? 0) + 1)
        await db.query(`select pg_sleep(0.02)`)
        await db.query(`insert into applied values ('005')`)
      },
    }
    const migrations = [...base, positive, slow]
    const sy = createSwitchyard({
      databases: { admin: postgres({ connectionString: home.connectionString, max: 4 }) },
      tenancy: { alias: 'admin', mapping, migrations, databasePerTenant: { connect } },
    })
    try {
      const other = new TenantManager({ pool: admin, mapping, migrations, databasePerTenant: { connect } })
      const [a, b] = await Promise.all([sy.tenants.migrate({ concurrency: 3 }), other.migrate({ concurrency: 3 })])
      expect([...a.failed, ...b.failed]).toEqual([])
      expect([...runs.values()].every((n) => n === 1)).toBe(true)
      expect([...runs.keys()].sort()).toEqual(keys)
      for (const k of keys) expect(await onTenant(k, (p) => p.query(`select count(*)::int as n from applied where name = '005'`))).toMatchObject({ rows: [{ n: 1 }] })
      expect((await admin.query(`select count(*)::int as n from switchyard.tenant_migrations where migration = '005_slow'`)).rows).toEqual([{ n: TENANTS }])
    } finally {
      await sy.close()
    }
  })

  it('rolls back in the tenant database, drop needs confirm and removes the database, and a bad key reaches no SQL', async () => {
    const manager = new TenantManager({ pool: admin, mapping, migrations: base, databasePerTenant: { connect } })
    // 003 and 005 (applied earlier) are not in this manager's list: the newest it knows is 002.
    expect(await manager.rollback('t04')).toEqual(['002_seed'])
    expect(await onTenant('t04', (p) => p.query(`select count(*)::int as n from orders`))).toMatchObject({ rows: [{ n: 0 }] })
    expect((await admin.query(`select migration from switchyard.tenant_migrations where tenant_key = 't04' order by 1`)).rows).toEqual([{ migration: '001_orders' }, { migration: '003_positive_qty' }, { migration: '005_slow' }])
    expect(await manager.migrate({ tenants: ['t04'] })).toMatchObject({ migrated: ['t04'] })
    expect(await onTenant('t04', (p) => p.query(`select count(*)::int as n from orders`))).toMatchObject({ rows: [{ n: 2 }] })

    await expect(manager.drop('t04')).rejects.toBeInstanceOf(TenantDropNotConfirmedError)
    // A session still on the tenant database does not stop the drop.
    const lingering = postgres({ host: PG_HOST, port: PG_PORT, user: PG_USER, database: dbOf('t04'), max: 1 }).createPool()
    await lingering.query('select 1')
    try {
      await manager.drop('t04', { confirm: 't04' })
    } finally {
      await lingering.close().catch(() => {})
    }
    expect(await databases()).not.toContain(dbOf('t04'))
    expect((await manager.list()).map((t) => t.key)).not.toContain('t04')

    const before = await databases()
    await expect(manager.provision('x"; drop database postgres; --')).rejects.toBeInstanceOf(InvalidSchemaNameError)
    expect(await databases()).toEqual(before)
  })

  it('is refused where a tenant cannot be a database of its own', () => {
    const lite = pglite({}).createPool()
    expect(() => new TenantManager({ pool: lite, databasePerTenant: { connect } })).toThrow(ConfigurationError)
    expect(() => new TenantManager({ pool: lite, databasePerTenant: { connect } })).toThrow(/needs a PostgreSQL server \(got engine 'pglite'\)/)
    expect(() => new TenantManager({ pool: admin, databasePerTenant: { connect, template: 'tpl; drop' } })).toThrow(/databasePerTenant\.template/)
    return lite.close()
  })
})
