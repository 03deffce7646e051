import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InvalidSchemaNameError, UnknownTenantError, type EnginePool } from '../../src/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { TenantDropNotConfirmedError, TenantManager, TenantMigrationError, type TenantMigration } from '../../src/tenancy/index.js'
import { createTempPgDatabase, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'
import { base, positive, recording } from './fixtures.js'

const ok = await serviceAvailable('postgres')

const TENANTS = 500
const key = (i: number) => `t${String(i).padStart(3, '0')}`
const BAD = key(137)

async function runPool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await fn(items[next++]!)
  }))
}

describe.skipIf(!ok)(`tenant migrations over ${TENANTS} schemas`, () => {
  let db: TempDatabase
  let pool: EnginePool

  beforeAll(async () => {
    db = await createTempPgDatabase('sy_tenancy')
    pool = postgres({ connectionString: db.connectionString, max: 10 }).createPool()
    const manager = new TenantManager({ pool, migrations: base })
    const keys = Array.from({ length: TENANTS }, (_, i) => key(i))
    await runPool(keys, 10, (k) => manager.provision(k))
  })

  afterAll(async () => {
    await pool?.close()
    await db?.drop()
  })

  it('provisions schemas, registers every tenant, and applies the migrations to each', async () => {
    const manager = new TenantManager({ pool, migrations: base })
    const tenants = await manager.list()
    expect(tenants).toHaveLength(TENANTS)
    expect(tenants[0]).toMatchObject({ key: 't000', schema: 'tenant_t000' })
    expect(tenants[0]!.createdAt).toBeInstanceOf(Date)
    const { rows } = await pool.query<{ tenant: string }>('select tenant from "tenant_t321".orders')
    expect(rows.map((r) => r.tenant)).toEqual(['t321', 't321'])
    // provision is idempotent: nothing created, nothing applied the second time.
    expect(await manager.provision('t321')).toEqual({ key: 't321', schema: 'tenant_t321', created: false, migrated: [] })
    // The migrations ran with a transaction-local search path: nothing leaked into public.
    const leaked = await pool.query(`select 1 from information_schema.tables where table_schema = 'public' and table_name = 'orders'`)
    expect(leaked.rows).toHaveLength(0)
  })

  it('migrates 499 tenants when one fails, reports that one, and a rerun after the fix finishes it', async () => {
    await pool.query(`insert into "tenant_${BAD}".orders values (3, -1, '${BAD}')`)
    const manager = new TenantManager({ pool, migrations: [...base, positive] })
    const progress: string[] = []
    const first = await manager.migrate({ concurrency: 8, onProgress: (p) => progress.push(`${p.done}/${p.total}:${p.status}`) })
    expect(first.migrated).toHaveLength(TENANTS - 1)
    expect(first.migrated).not.toContain(BAD)
    expect(first.failed).toHaveLength(1)
    expect(first.failed[0]).toMatchObject({ tenant: BAD, migration: '003_positive_qty' })
    expect(first.failed[0]!.error.message).toMatch(/qty_positive/)
    expect(progress).toHaveLength(TENANTS)
    expect(progress.at(-1)).toMatch(new RegExp(`^${TENANTS}/${TENANTS}:`))

    // The failed migration rolled back entirely: no constraint, no status row.
    const status = await pool.query(`select 1 from switchyard.tenant_migrations where tenant_key = $1 and migration = '003_positive_qty'`, [BAD])
    expect(status.rows).toHaveLength(0)

    await pool.query(`delete from "tenant_${BAD}".orders where qty <= 0`)
    const second = await manager.migrate({ concurrency: 8 })
    expect(second.migrated).toEqual([BAD])
    expect(second.failed).toEqual([])
    expect(second.skipped).toHaveLength(TENANTS - 1)

    const third = await manager.migrate()
    expect(third.migrated).toEqual([])
    expect(third.skipped).toHaveLength(TENANTS)
  })

  it('resumes after a crash (SIGKILL mid-transaction): every tenant gets the migration exactly once', async () => {
    const CRASH_AFTER = 200
    // A child process migrates and hangs inside open migration transactions after CRASH_AFTER
    // tenants; killing it is a real crash: the server sees the connections drop and rolls back.
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL('../../../../node_modules/vite-node/vite-node.mjs', import.meta.url)), fileURLToPath(new URL('./crash-child.ts', import.meta.url)), db.connectionString, String(CRASH_AFTER)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    const migratedBeforeCrash: string[] = []
    let hung = 0
    await new Promise<void>((resolve, reject) => {
      child.on('exit', (code) => reject(new Error(`crash child exited early with ${code}`)))
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.startsWith('migrated ')) migratedBeforeCrash.push(line.slice(9))
        if (line === 'hung' && ++hung === 6) resolve()
      })
    })
    child.removeAllListeners('exit')
    const exited = new Promise((r) => child.on('exit', r))
    child.kill('SIGKILL')
    await exited
    expect(migratedBeforeCrash.length).toBeGreaterThanOrEqual(CRASH_AFTER - 6)
    expect(migratedBeforeCrash.length).toBeLessThanOrEqual(CRASH_AFTER)

    const after = new TenantManager({ pool, migrations: [...base, positive, recording()] })
    const resumed = await after.migrate({ concurrency: 6 })
    expect(resumed.failed).toEqual([])
    // Only the tenants the crashed run had not finished are migrated now.
    expect(resumed.migrated.length).toBe(TENANTS - migratedBeforeCrash.length)
    expect(new Set([...resumed.migrated, ...migratedBeforeCrash]).size).toBe(TENANTS)

    // Exactly once everywhere: each tenant's `applied` table holds one '004' row.
    const union = Array.from({ length: TENANTS }, (_, i) => `select '${key(i)}' as t, count(*) as n from "tenant_${key(i)}".applied where name = '004'`).join(' union all ')
    const counts = await pool.query<{ t: string; n: string }>(`select t, n from (${union}) x where n <> 1`)
    expect(counts.rows).toEqual([])
  })

  it('consults allowMigrate and leaves refused migrations pending', async () => {
    const analytics: TenantMigration = { name: '005_analytics', model: 'events', up: (db) => db.query('create table events (id int)').then(() => undefined) }
    const seen: [string, string | undefined][] = []
    const refusing = new TenantManager({
      pool,
      alias: 'primary',
      migrations: [...base, positive, recording(), analytics],
      allowMigrate: (alias, model) => {
        seen.push([alias, model.table])
        return model.table === 'events' ? false : undefined
      },
    })
    const refused = await refusing.migrate({ tenants: ['t001', 't002'] })
    expect(refused.disallowed).toEqual(['005_analytics'])
    expect(refused.migrated).toEqual([])
    expect(seen).toContainEqual(['primary', 'events'])
    const allowing = new TenantManager({ pool, migrations: [...base, positive, recording(), analytics] })
    const allowed = await allowing.migrate({ tenants: ['t001', 't002'] })
    expect(allowed.migrated.sort()).toEqual(['t001', 't002'])
    await pool.query('select * from "tenant_t001".events')
  })

  it('rolls back the newest migration with down()', async () => {
    const manager = new TenantManager({ pool, migrations: base })
    await manager.provision('rb')
    expect(await manager.rollback('rb')).toEqual(['002_seed'])
    expect((await pool.query('select * from "tenant_rb".orders')).rows).toHaveLength(0)
    const again = await manager.migrate({ tenants: ['rb'] })
    expect(again.migrated).toEqual(['rb'])
    expect((await pool.query('select * from "tenant_rb".orders')).rows).toHaveLength(2)
  })

  it('drop requires confirm, then removes the schema and the registry entry', async () => {
    const manager = new TenantManager({ pool, migrations: base })
    await manager.provision('goner')
    await expect(manager.drop('goner')).rejects.toBeInstanceOf(TenantDropNotConfirmedError)
    await expect(manager.drop('goner', { confirm: 'gone' })).rejects.toBeInstanceOf(TenantDropNotConfirmedError)
    expect(await pool.listSchemas()).toContain('tenant_goner')
    await manager.drop('goner', { confirm: 'goner' })
    expect(await pool.listSchemas()).not.toContain('tenant_goner')
    expect((await manager.list()).map((t) => t.key)).not.toContain('goner')
    const status = await pool.query(`select 1 from switchyard.tenant_migrations where tenant_key = 'goner'`)
    expect(status.rows).toHaveLength(0)
    await expect(manager.drop('goner', { confirm: 'goner' })).rejects.toBeInstanceOf(UnknownTenantError)
  })

  it('refuses malicious tenant keys before any SQL is sent', async () => {
    const manager = new TenantManager({ pool, migrations: base })
    await pool.query('create schema probe_x')
    await pool.query('create table probe_x.alive (id int)')
    for (const bad of ['acme; drop schema probe_x cascade', 'a"b', "a'b", 'ümlaut', '', 'x'.repeat(64), 'a b']) {
      await expect(manager.provision(bad)).rejects.toBeInstanceOf(InvalidSchemaNameError)
    }
    await pool.query('select * from probe_x.alive')
    expect((await manager.list()).map((t) => t.key).filter((k) => !/^t\d{3}$|^rb$/.test(k))).toEqual([])
  })

  it('reports a failing provision as TenantMigrationError and finishes it on the next call', async () => {
    let fail = true
    const manager = new TenantManager({
      pool,
      migrations: [...base, { name: '009_flaky', up: async () => { if (fail) throw new Error('boom') } }],
    })
    const err = await manager.provision('late').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TenantMigrationError)
    expect(err).toMatchObject({ tenant: 'late', migration: '009_flaky' })
    fail = false
    expect(await manager.provision('late')).toMatchObject({ created: false, migrated: ['009_flaky'] })
  })
})
