import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSwitchyard, UnknownTenantError, withRouteContext, type EnginePool } from '../../src/index.js'
import { sqlite } from '../../src/engines/sqlite/index.js'
import { TenantDropNotConfirmedError, TenantManager, tenantSchemaRouter } from '../../src/tenancy/index.js'
import { crashWhenHung } from './crash.js'
import { marker, portableBase, uniqueQty } from './portable-fixtures.js'

// SQLite: a tenant is a database file beside the main one. SQLite attaches at most 10 files
// per connection, so 30 tenants also exercise attaching on demand.
const TENANTS = 30
const key = (i: number) => `t${String(i).padStart(2, '0')}`
const keys = Array.from({ length: TENANTS }, (_, i) => key(i))
const BAD = key(17)

describe(`tenant management on SQLite over ${TENANTS} tenant files`, () => {
  let dir: string
  let file: string
  let pool: EnginePool

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sy-tenancy-'))
    file = join(dir, 'main.sqlite')
    pool = sqlite({ filename: file }).createPool()
  })
  afterAll(async () => {
    await pool?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('provisions and lists every tenant, migrates each in its own file, and routes statements to it', async () => {
    const open = () => createSwitchyard({ databases: { default: sqlite({ filename: file }) }, routers: [tenantSchemaRouter()], tenancy: { migrations: portableBase } })
    let sy = open()
    try {
      for (const k of keys) {
        expect(await sy.tenants.provision(k)).toEqual({ key: k, schema: `tenant_${k}`, created: true, migrated: ['001_orders', '002_seed'] })
      }
      const listed = await sy.tenants.list()
      expect(listed.map((t) => t.key)).toEqual(keys)
      expect(listed[3]).toMatchObject({ key: 't03', schema: 'tenant_t03' })
      expect(listed[3]!.createdAt).toBeInstanceOf(Date)
      for (const k of keys) expect(existsSync(`${file}.tenant_${k}.sqlite`)).toBe(true)
      // The migrations ran with unqualified names in the tenant's file: main has no orders table.
      expect((await sy.read(`select name from sqlite_schema where name = 'orders'`)).rows).toEqual([])

      // Interleaved reads over all 30 files: attachments churn behind a limit of 10.
      const order = [...keys, ...[...keys].reverse(), ...keys.filter((_, i) => i % 3 === 0)]
      for (const k of order) {
        const { rows } = await withRouteContext({ tenant: k }, () => sy.read<{ tenant: string }>('select tenant from orders order by id'))
        expect(rows).toEqual([{ tenant: k }, { tenant: k }])
      }
      await withRouteContext({ tenant: 't05' }, () => sy.transaction((tx) => tx.write('insert into orders (id, qty, tenant) values (3, 9, ?)', ['t05'])))
      await expect(withRouteContext({ tenant: 'nobody' }, () => sy.read('select 1 from orders'))).rejects.toThrow(/no such table/)
      // provision again: nothing created, nothing applied.
      expect(await sy.tenants.provision('t05')).toEqual({ key: 't05', schema: 'tenant_t05', created: false, migrated: [] })

      await sy.close()
      sy = open()
      const { rows } = await withRouteContext({ tenant: 't05' }, () => sy.read<{ id: number }>('select id from orders order by id'))
      expect(rows.map((r) => r.id)).toEqual([1, 2, 3])
    } finally {
      await sy.close()
    }
  })

  it(`migrates ${TENANTS - 1} tenants when one fails, reports that one, and a rerun after the fix finishes it`, async () => {
    await pool.query(`insert into "tenant_${BAD}".orders (id, qty, tenant) values (3, 5, ?)`, [BAD])
    const manager = new TenantManager({ pool, migrations: [...portableBase, uniqueQty] })
    const progress: string[] = []
    const first = await manager.migrate({ concurrency: 4, onProgress: (p) => progress.push(`${p.done}/${p.total}:${p.status}`) })
    expect(first.migrated).toHaveLength(TENANTS - 1)
    expect(first.migrated).not.toContain(BAD)
    expect(first.failed).toHaveLength(1)
    expect(first.failed[0]).toMatchObject({ tenant: BAD, migration: '003_unique_qty' })
    expect(first.failed[0]!.error.message).toMatch(/UNIQUE/i)
    expect(progress.at(-1)).toMatch(new RegExp(`^${TENANTS}/${TENANTS}:`))
    expect(progress).toHaveLength(TENANTS)

    // Rolled back whole: no index in the tenant's file, no status row.
    expect((await pool.query(`select 1 from "tenant_${BAD}".sqlite_schema where name = 'orders_qty'`)).rows).toHaveLength(0)
    expect((await pool.query(`select 1 from "tenant_t00".sqlite_schema where name = 'orders_qty'`)).rows).toHaveLength(1)
    expect((await pool.query(`select 1 from switchyard_tenant_migrations where tenant_key = ? and migration = '003_unique_qty'`, [BAD])).rows).toHaveLength(0)

    await pool.query(`delete from "tenant_${BAD}".orders where id = 3`)
    const second = await manager.migrate({ concurrency: 4 })
    expect(second.migrated).toEqual([BAD])
    expect(second.failed).toEqual([])
    expect(second.skipped).toHaveLength(TENANTS - 1)
    const third = await manager.migrate()
    expect(third.skipped).toHaveLength(TENANTS)
  })

  it('resumes after a crash (SIGKILL inside a tenant transaction): every tenant gets the migration exactly once', async () => {
    const CRASH_AFTER = 12
    const before = await crashWhenHung('./portable-crash-child.ts', ['sqlite', file, String(CRASH_AFTER), 'tenant_{key}'])
    expect(before).toHaveLength(CRASH_AFTER)

    const after = new TenantManager({ pool, migrations: [...portableBase, uniqueQty, marker()] })
    const resumed = await after.migrate({ concurrency: 3 })
    expect(resumed.failed).toEqual([])
    expect(resumed.migrated).toHaveLength(TENANTS - CRASH_AFTER)
    expect(new Set([...resumed.migrated, ...before]).size).toBe(TENANTS)
    for (const k of keys) {
      const { rows } = await pool.query<{ n: number }>(`select count(*) as n from "tenant_${k}".applied where name = '004'`)
      expect([k, rows[0]?.n]).toEqual([k, 1])
    }
  })

  it('drop requires confirm, then deletes the file and the registry entry', async () => {
    const manager = new TenantManager({ pool, migrations: portableBase })
    await manager.provision('goner')
    await expect(manager.drop('goner')).rejects.toBeInstanceOf(TenantDropNotConfirmedError)
    expect(existsSync(`${file}.tenant_goner.sqlite`)).toBe(true)
    await manager.drop('goner', { confirm: 'goner' })
    expect(existsSync(`${file}.tenant_goner.sqlite`)).toBe(false)
    expect(await pool.listSchemas()).not.toContain('tenant_goner')
    expect((await manager.list()).map((t) => t.key)).not.toContain('goner')
    expect((await pool.query(`select 1 from switchyard_tenant_migrations where tenant_key = 'goner'`)).rows).toHaveLength(0)
    await expect(manager.drop('goner', { confirm: 'goner' })).rejects.toBeInstanceOf(UnknownTenantError)
  })

  it('never detaches a file the open transaction uses, and says so when every slot is taken', async () => {
    const small = sqlite({ filename: file, maxAttached: 3 }).createPool()
    try {
      const tag = (k: string) => `(select tenant from "tenant_${k}".orders where id = 1)`
      await small.transaction(async (tx) => {
        await tx.query(`insert into "tenant_t01".orders (id, qty, tenant) values (10, 100, 'tx')`)
        // t02 and t03 fill the slots; t04 needs one, and all three are pinned by this transaction.
        expect((await tx.query(`select ${tag('t02')} as a, ${tag('t03')} as b`)).rows).toEqual([{ a: 't02', b: 't03' }])
        await expect(tx.query(`select ${tag('t04')} as c`)).rejects.toThrow(/at most 3 schema files attached.*in use/)
        // t01's uncommitted row is still there: its file stayed attached.
        expect((await tx.query(`select count(*) as n from "tenant_t01".orders where id = 10`)).rows).toEqual([{ n: 1 }])
      })
      // Outside the transaction the least recently used files give way.
      for (const k of ['t04', 't05', 't06', 't07', 't01']) expect((await small.query<{ t: string }>(`select ${tag(k)} as t`)).rows).toEqual([{ t: k }])
      expect((await small.query(`select count(*) as n from "tenant_t01".orders where id = 10`)).rows).toEqual([{ n: 1 }])
      await small.query(`delete from "tenant_t01".orders where id = 10`)
    } finally {
      await small.close()
    }
  })
})
