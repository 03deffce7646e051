import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSwitchyard, InvalidSchemaNameError, UnknownTenantError, withRouteContext } from '../../src/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { TenantManager, tableSchemaMapping, tenantSchemaRouter, type TenantMigration } from '../../src/tenancy/index.js'
import { createTempPgDatabase, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'

const ok = await serviceAvailable('postgres')

const orders: TenantMigration = {
  name: '001_orders',
  async up(db) {
    await db.query('create table orders (id int primary key, tenant text not null)')
    await db.query('insert into orders values (1, $1)', [db.tenant])
  },
  async down(db) {
    await db.query('drop table orders')
  },
}

describe.skipIf(!ok)('tenant → schema from a lookup table, routed by tenantSchemaRouter (PostgreSQL)', () => {
  let db: TempDatabase
  beforeAll(async () => {
    db = await createTempPgDatabase('sy_lookup')
  })
  afterAll(async () => {
    await db?.drop()
  })

  const open = (mapping: ReturnType<typeof tableSchemaMapping>) =>
    createSwitchyard({
      databases: { default: postgres({ connectionString: db.connectionString, max: 4 }) },
      routers: [tenantSchemaRouter(mapping)],
      tenancy: { mapping, migrations: [orders] },
    })
  const tenantsOf = async (sy: ReturnType<typeof open>, tenant: string) =>
    withRouteContext({ tenant }, async () => (await sy.read<{ tenant: string }>('select tenant from orders')).rows.map((r) => r.tenant))

  it('provisions tenants under the schemas the table names and routes sy.read to them; unknown tenants fail', async () => {
    const mapping = tableSchemaMapping({ table: 'directory.tenant_schemas', ttlMs: 60_000 })
    const sy = open(mapping)
    try {
      // No row for the key and no schema given: nothing to provision into.
      await expect(sy.tenants.provision('acme')).rejects.toBeInstanceOf(UnknownTenantError)
      expect(await sy.tenants.provision('acme', { schema: 'legacy_acme' })).toEqual({ key: 'acme', schema: 'legacy_acme', created: true, migrated: ['001_orders'] })
      await sy.tenants.provision('globex', { schema: 'gx_eu_1' })
      const table = await sy.on('default').read<{ tenant_key: string; schema_name: string }>('select tenant_key, schema_name from directory.tenant_schemas order by tenant_key')
      expect(table.rows).toEqual([
        { tenant_key: 'acme', schema_name: 'legacy_acme' },
        { tenant_key: 'globex', schema_name: 'gx_eu_1' },
      ])

      expect(await tenantsOf(sy, 'acme')).toEqual(['acme'])
      expect(await tenantsOf(sy, 'globex')).toEqual(['globex'])
      await expect(tenantsOf(sy, 'initech')).rejects.toBeInstanceOf(UnknownTenantError)

      await expect(sy.tenants.provision('acme', { schema: 'acme_other' })).rejects.toThrow(/mapped to 'legacy_acme'/)
      await expect(sy.tenants.provision('evil', { schema: 'x; drop schema legacy_acme cascade' })).rejects.toBeInstanceOf(InvalidSchemaNameError)
      expect(await tenantsOf(sy, 'acme')).toEqual(['acme'])

      // drop forgets the tenant at once: routing refuses it rather than reaching a dropped schema.
      await sy.tenants.drop('globex', { confirm: 'globex' })
      await expect(tenantsOf(sy, 'globex')).rejects.toBeInstanceOf(UnknownTenantError)
      expect((await sy.on('default').read(`select 1 from directory.tenant_schemas where tenant_key = 'globex'`)).rows).toEqual([])
    } finally {
      await sy.close()
    }
  })

  it('another process knows a tenant only once it has loaded the table', async () => {
    const mapping = tableSchemaMapping({ table: 'directory.tenant_schemas', ttlMs: 60_000 })
    const sy = open(mapping)
    try {
      await expect(tenantsOf(sy, 'acme')).rejects.toBeInstanceOf(UnknownTenantError)
      await sy.tenants.loadMapping()
      expect(await tenantsOf(sy, 'acme')).toEqual(['acme'])

      // A row written behind its back: unknown until the next load (TTL or explicit).
      await sy.on('default').write('create schema hooli_s')
      await sy.on('default').write(`create table hooli_s.orders (id int, tenant text)`)
      await sy.on('default').write(`insert into hooli_s.orders values (1, 'hooli')`)
      await sy.on('default').write(`insert into directory.tenant_schemas values ('hooli', 'hooli_s')`)
      await expect(tenantsOf(sy, 'hooli')).rejects.toBeInstanceOf(UnknownTenantError)
      await sy.tenants.loadMapping()
      expect(await tenantsOf(sy, 'hooli')).toEqual(['hooli'])
    } finally {
      await sy.close()
    }
  })

  it('validates schema names read from the registry before drop and rollback put them into SQL', async () => {
    const pool = postgres({ connectionString: db.connectionString, max: 2 }).createPool()
    try {
      const manager = new TenantManager({ pool, migrations: [orders] })
      await manager.provision('vv')
      await pool.query(`create table public.victim (id int)`)
      await pool.query(`update switchyard.tenants set schema_name = 'tenant_vv" cascade; drop table public.victim; --' where tenant_key = 'vv'`)
      await expect(manager.rollback('vv')).rejects.toBeInstanceOf(InvalidSchemaNameError)
      await expect(manager.drop('vv', { confirm: 'vv' })).rejects.toBeInstanceOf(InvalidSchemaNameError)
      await pool.query('select * from public.victim')
      expect(await pool.listSchemas()).toContain('tenant_vv')
    } finally {
      await pool.close()
    }
  })
})
