import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSwitchyard, withRouteContext, type Switchyard, type TenantMigration } from '../../src/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { createTempPgDatabase, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'

const ok = await serviceAvailable('postgres')

const migrations: TenantMigration[] = [
  { name: '001_orders', model: 'orders', up: async (db) => void (await db.query('create table orders (id serial primary key, note text not null)')) },
  { name: '002_audit', model: 'audit', up: async (db) => void (await db.query('create table audit (at timestamptz default now())')) },
]

describe.skipIf(!ok)('sy.tenants with schema routing through the facade', () => {
  let db: TempDatabase
  let sy: Switchyard
  beforeAll(async () => {
    db = await createTempPgDatabase()
    sy = createSwitchyard({
      databases: { default: postgres({ connectionString: db.connectionString, max: 4 }) },
      routers: [
        { schemaFor: (ctx) => (ctx.tenant ? `tenant_${ctx.tenant}` : undefined) },
        // Audit tables are not migrated by this service.
        { allowMigrate: (_alias, model) => (model.table === 'audit' ? false : undefined) },
      ],
      tenancy: { mapping: 'tenant_{key}', migrations },
    })
  })
  afterAll(async () => {
    await sy?.close()
    await db?.drop()
  })

  it('provisions tenants whose rows the routed facade then keeps apart', async () => {
    for (const t of ['acme', 'globex']) await sy.tenants.provision(t)
    expect((await sy.tenants.list()).map((t) => t.key).sort()).toEqual(['acme', 'globex'])
    await withRouteContext({ tenant: 'acme' }, () => sy.write(`insert into orders (note) values ('for acme')`))
    const globex = await withRouteContext({ tenant: 'globex' }, () => sy.read('select note from orders'))
    expect(globex.rows).toEqual([])
    const acme = await withRouteContext({ tenant: 'acme' }, () => sy.read('select note from orders'))
    expect(acme.rows).toEqual([{ note: 'for acme' }])
  })

  it("consults the routers' allowMigrate", async () => {
    const tables = await sy.on('default').read<{ table_name: string }>(`select table_name from information_schema.tables where table_schema = 'tenant_acme' order by 1`)
    expect(tables.rows.map((r) => r.table_name)).toEqual(['orders'])
  })
})
