import { Kysely, PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tenantSchemaPlugin, TenantIsolationError } from '../../src/index.js'
import { createTempPgDatabase, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'

// tenantSchemaPlugin on a plain Kysely (no Switchyard facade, so no SQL guard behind it): the
// query tree itself must not reach another tenant's schema, whatever names the caller writes.

interface DB {
  orders: { id: number; owner: string }
  'tenant_b.orders': { id: number; owner: string }
  'shared.countries': { code: string }
  'information_schema.tables': { table_name: string; table_schema: string }
  countries: { code: string }
}

const ok = await serviceAvailable('postgres')

describe.skipIf(!ok)('tenantSchemaPlugin refuses names outside the tenant, its shared schemas and the catalogs', () => {
  let db: TempDatabase
  let admin: pg.Client
  const plugins = {
    bare: tenantSchemaPlugin(() => 'tenant_a'),
    shared: tenantSchemaPlugin(() => 'tenant_a', { sharedTables: { countries: 'shared' } }),
  }
  const kyselies: Kysely<DB>[] = []
  const kysely = (plugin: keyof typeof plugins) => {
    const k = new Kysely<DB>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: db.connectionString, max: 2 }) }), plugins: [plugins[plugin]] })
    kyselies.push(k)
    return k
  }
  const tenantB = async () => (await admin.query<{ owner: string }>('select owner from tenant_b.orders order by id')).rows.map((r) => r.owner)
  const schemas = async () => (await admin.query<{ nspname: string }>(`select nspname from pg_namespace where nspname like 'tenant%' or nspname in ('other', 'shared') order by 1`)).rows.map((r) => r.nspname)
  const refused = async (run: () => Promise<unknown>, schema: string | RegExp) => {
    // A subquery builder runs the plugin as it is built, so the refusal can come before execute().
    const err = await Promise.resolve().then(run).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(TenantIsolationError)
    if (typeof schema === 'string') expect((err as TenantIsolationError).schema).toBe(schema)
    else expect((err as Error).message).toMatch(schema)
  }

  beforeAll(async () => {
    db = await createTempPgDatabase('sy_plugin_iso')
    admin = new pg.Client({ connectionString: db.connectionString })
    await admin.connect()
    for (const t of ['a', 'b']) {
      await admin.query(`create schema tenant_${t}; create table tenant_${t}.orders (id int primary key, owner text not null); insert into tenant_${t}.orders values (1, '${t}')`)
    }
    await admin.query(`create schema shared; create table shared.countries (code text primary key); insert into shared.countries values ('fr')`)
    await admin.query(`create function tenant_b.secret() returns text language sql as $$ select owner from tenant_b.orders limit 1 $$`)
  }, 60_000)

  afterAll(async () => {
    await Promise.all(kyselies.map((k) => k.destroy()))
    await admin?.end()
    await db?.drop()
  })

  it("refuses reads of another tenant's schema wherever the tree names it", async () => {
    for (const k of [kysely('bare'), kysely('shared')]) {
      await refused(() => k.selectFrom('tenant_b.orders').selectAll().execute(), 'tenant_b')
      await refused(() => k.withSchema('tenant_b').selectFrom('orders').selectAll().execute(), 'tenant_b')
      await refused(() => k.selectFrom('orders').innerJoin('tenant_b.orders as b', 'b.id', 'orders.id').select('b.owner').execute(), 'tenant_b')
      await refused(() => k.selectFrom('orders').where('id', 'in', k.selectFrom('tenant_b.orders').select('id')).selectAll().execute(), 'tenant_b')
      await refused(() => k.with('stolen', (db) => db.selectFrom('tenant_b.orders').select('owner')).selectFrom('stolen').selectAll().execute(), 'tenant_b')
      await refused(() => k.selectNoFrom((eb) => eb.fn<string>('tenant_b.secret', []).as('s')).execute(), 'tenant_b')
    }
  })

  it("refuses writes and DDL in another tenant's schema, and acting on any schema but the tenant's, leaving the database as it was", async () => {
    const k = kysely('shared')
    await refused(() => k.deleteFrom('tenant_b.orders').execute(), 'tenant_b')
    await refused(() => k.updateTable('tenant_b.orders').set({ owner: 'a' }).execute(), 'tenant_b')
    await refused(() => k.insertInto('tenant_b.orders').values({ id: 2, owner: 'a' }).execute(), 'tenant_b')
    await refused(() => k.schema.createTable('tenant_b.planted').addColumn('id', 'integer').execute(), 'tenant_b')
    await refused(() => k.schema.dropTable('tenant_b.orders').execute(), 'tenant_b')
    await refused(() => k.schema.dropSchema('tenant_b').cascade().execute(), /schema 'tenant_b' as a whole/)
    await refused(() => k.schema.createSchema('other').execute(), /schema 'other' as a whole/)
    // A function name the guard cannot read as identifiers (Kysely emits it verbatim) is refused, not guessed at.
    await refused(() => k.selectNoFrom((eb) => eb.fn<string>('"tenant_b".secret', []).as('s')).execute(), /cannot be checked/)
    // The catalogs are readable, but not those holding other tenants' values (statistics, sequences, activity).
    for (const leaky of ['pg_catalog.pg_stats', 'pg_catalog.pg_stat_user_tables', 'pg_sequences'] as const) {
      await refused(() => k.selectFrom(leaky as 'orders').selectAll().execute(), /exposes other tenants' data/)
    }
    expect(await tenantB()).toEqual(['b'])
    expect(await schemas()).toEqual(['shared', 'tenant_a', 'tenant_b'])
  })

  it('still runs what the tenant may name: its own schema, shared tables, the catalogs, built-in functions', async () => {
    const k = kysely('shared')
    expect(await k.selectFrom('orders').select('owner').execute()).toEqual([{ owner: 'a' }])
    expect(await k.selectFrom('countries').select('code').execute()).toEqual([{ code: 'fr' }])
    expect(await k.selectFrom('shared.countries').select('code').execute()).toEqual([{ code: 'fr' }])
    const own = await k.selectFrom('information_schema.tables').select('table_name').where('table_schema', '=', 'tenant_a').execute()
    expect(own).toEqual([{ table_name: 'orders' }])
    const now = await k.selectNoFrom((eb) => [eb.fn<Date>('pg_catalog.now', []).as('t'), eb.fn.coalesce(sql<string>`null`, sql<string>`'x'`).as('c')]).executeTakeFirstOrThrow()
    expect(now.c).toBe('x')
    // The tenant's own schema as a whole stays its own to manage.
    await k.schema.createTable('tenant_a.notes').addColumn('id', 'integer').execute()
    await k.schema.dropTable('notes').execute()
  })
})
