import { PGlite } from '@electric-sql/pglite'
import { Kysely, PostgresDialect, WithSchemaPlugin, sql } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSwitchyard, SchemaRouter, tenantSchemaPlugin, TenantIsolationError, withRouteContext, type DatabaseRouter, type EnginePool, type Switchyard } from '../../src/index.js'
import { RoutedDialect } from '../../src/kysely/index.js'
import { pglite } from '../../src/engines/pglite/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { createTempPgDatabase, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'

// A tenant context reads the shared schemas but never changes them: DDL always refused, DML
// unless `sharedWrites`. These tests cover the paths around the SQL guard: the facade's
// plumbing of the option, transactions, Kysely's query-tree path and plugin, and PGlite.

interface DB {
  orders: { id: number; owner: string }
  countries: { code: string; name: string }
  gone: { code: string; name: string }
  notes: { id: number }
}

const tenantSchema: DatabaseRouter = { schemaFor: (ctx) => (ctx.tenant ? `tenant_${ctx.tenant}` : undefined) }
const sharedTables = { countries: 'shared' }
const asA = <T>(fn: () => Promise<T>) => withRouteContext({ tenant: 'a' }, fn)

const SETUP = [
  `create schema tenant_a`,
  `create table tenant_a.orders (id int primary key, owner text not null)`,
  `insert into tenant_a.orders values (1, 'fr')`,
  `create schema shared`,
  `create table shared.countries (code text primary key, name text not null)`,
  `insert into shared.countries values ('fr', 'France'), ('nz', 'New Zealand')`,
  `create index countries_name on shared.countries (name)`,
]

/** The shared schema's relations, columns, comments and rows. */
const SNAPSHOT = `
  select jsonb_build_object(
    'relations', (select jsonb_agg(jsonb_build_array(c.relname, c.relkind, c.relacl::text, obj_description(c.oid, 'pg_class')) order by c.relname) from pg_class c where c.relnamespace = 'shared'::regnamespace),
    'columns', (select jsonb_agg(jsonb_build_array(c.relname, a.attname, format_type(a.atttypid, a.atttypmod)) order by c.relname, a.attnum)
                from pg_attribute a join pg_class c on c.oid = a.attrelid where c.relnamespace = 'shared'::regnamespace and a.attnum > 0 and not a.attisdropped),
    'rows', (select jsonb_agg(jsonb_build_array(code, name) order by code) from shared.countries)
  ) as snapshot`

const refusedWith = async (pattern: RegExp, run: () => Promise<unknown>): Promise<void> => {
  const err = await run().then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(TenantIsolationError)
  expect((err as Error).message).toMatch(pattern)
}
const DDL = /would change shared schema 'shared'.*migrations on an admin connection/
const DML = /would write rows in shared schema 'shared'.*visible to every tenant/

const ok = await serviceAvailable('postgres')

describe.skipIf(!ok)('changes to shared schemas through the facade and Kysely, on real PostgreSQL', () => {
  let db: TempDatabase
  let admin: EnginePool
  let sy: Switchyard
  let writes: Switchyard
  let viaTx: Switchyard
  const snapshot = async () => (await admin.query<{ snapshot: unknown }>(SNAPSHOT)).rows[0]!.snapshot

  beforeAll(async () => {
    db = await createTempPgDatabase('sy_shchg')
    admin = postgres({ connectionString: db.connectionString, max: 2 }).createPool()
    for (const statement of SETUP) await admin.query(statement)
    const make = (schemaRouting: Record<string, unknown>) =>
      createSwitchyard({ databases: { default: postgres({ connectionString: db.connectionString, max: 3 }) }, routers: [tenantSchema], schemaRouting })
    sy = make({ shared: ['shared'], sharedTables })
    writes = make({ shared: ['shared'], sharedTables, sharedWrites: true })
    viaTx = make({ strategy: 'transaction', shared: ['shared'], sharedTables })
  })

  afterAll(async () => {
    await Promise.all([sy?.close(), writes?.close(), viaTx?.close(), admin?.close()])
    await db?.drop()
  })

  it('createSwitchyard({ schemaRouting }) refuses DDL, TRUNCATE and DML on shared tables from read, write, query and transaction', async () => {
    const before = await snapshot()
    for (const s of [sy, viaTx]) {
      for (const [sql, message] of [
        ['drop table countries', DDL],
        ['truncate countries', DDL],
        ['alter table orders set schema shared', DDL],
        ["comment on table shared.countries is 'pwned'", DDL],
        ["insert into countries values ('de', 'Germany')", DML],
        ['with gone as (delete from countries returning *) select * from gone', DML],
      ] as const) {
        await refusedWith(message, () => asA(() => s.write(sql)))
        await refusedWith(message, () => asA(() => s.query(sql)))
        await refusedWith(message, () => asA(() => s.read(sql)))
        await refusedWith(message, () => asA(() => s.transaction((tx) => tx.write(sql))))
      }
    }
    expect(await snapshot()).toEqual(before)
  })

  it('schemaRouting.sharedWrites reaches the guard: DML on shared tables runs, DDL and TRUNCATE stay refused', async () => {
    const before = await snapshot()
    await asA(() => writes.write("insert into countries values ('de', 'Germany')"))
    await asA(() => writes.transaction((tx) => tx.write("update shared.countries set name = 'Deutschland' where code = $1", ['de'])))
    expect((await admin.query('select name from shared.countries where code = $1', ['de'])).rows).toEqual([{ name: 'Deutschland' }])
    await asA(() => writes.write("delete from countries where code = 'de'"))
    await refusedWith(DDL, () => asA(() => writes.write('truncate countries')))
    await refusedWith(DDL, () => asA(() => writes.write('drop table shared.countries')))
    expect(await snapshot()).toEqual(before)
  })

  it('Kysely: insertInto, updateTable, deleteFrom and a deleting CTE on a shared table are refused; schema.dropTable and friends always', async () => {
    const before = await snapshot()
    const k = sy.kysely<DB>()
    await refusedWith(DML, () => asA(() => k.insertInto('countries').values({ code: 'de', name: 'Germany' }).execute()))
    await refusedWith(DML, () => asA(() => k.updateTable('countries').set({ name: 'pwned' }).execute()))
    await refusedWith(DML, () => asA(() => k.deleteFrom('countries').execute()))
    await refusedWith(DML, () => asA(() => k.withSchema('shared').deleteFrom('countries').where('code', '=', 'fr').execute()))
    await refusedWith(DML, () => asA(() => k.with('gone', (q) => q.deleteFrom('countries').returningAll()).selectFrom('gone').selectAll().execute()))
    await refusedWith(DML, () => asA(() => k.transaction().execute((trx) => trx.deleteFrom('countries').execute())))
    await refusedWith(DDL, () => asA(() => k.schema.dropTable('countries').execute()))
    await refusedWith(DDL, () => asA(() => k.schema.withSchema('shared').dropTable('countries').execute()))
    await refusedWith(DDL, () => asA(() => k.schema.alterTable('countries').addColumn('x', 'integer').execute()))
    await refusedWith(DDL, () => asA(() => k.schema.alterTable('orders').setSchema('shared').execute()))
    await refusedWith(DDL, () => asA(() => k.schema.createIndex('countries_code_name').on('countries').columns(['code', 'name']).execute()))
    await refusedWith(DDL, () => asA(() => k.schema.createTable('shared.stolen').addColumn('id', 'integer').execute()))
    await refusedWith(DDL, () => asA(() => k.schema.withSchema('shared').dropIndex('countries_name').execute()))
    await refusedWith(DDL, () => asA(() => sql`truncate countries`.execute(k)))
    expect(await snapshot()).toEqual(before)
  })

  it("Kysely: reads of shared tables and the tenant's own DDL and DML still run", async () => {
    const k = sy.kysely<DB>()
    const rows = await asA(() => k.selectFrom('orders').innerJoin('countries', 'countries.code', 'orders.owner').select(['orders.id', 'countries.name']).execute())
    expect(rows).toEqual([{ id: 1, name: 'France' }])
    expect(await asA(() => k.selectFrom('countries').select('code').orderBy('code').forUpdate().execute())).toEqual([{ code: 'fr' }, { code: 'nz' }])
    await asA(() => k.schema.createTable('notes').addColumn('id', 'integer', (c) => c.primaryKey()).execute())
    await asA(() => k.insertInto('notes').values({ id: 1 }).execute())
    await asA(() => k.deleteFrom('orders').where('id', '=', 99).execute())
    expect((await admin.query(`select n.nspname from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relname = 'notes'`)).rows).toEqual([{ nspname: 'tenant_a' }])
    await asA(() => k.schema.dropTable('notes').execute())
  })

  it('Kysely with sharedWrites: writes into shared tables run through the tree path; DDL stays refused', async () => {
    const k = writes.kysely<DB>()
    await asA(() => k.insertInto('countries').values({ code: 'de', name: 'Germany' }).execute())
    expect((await admin.query('select name from shared.countries where code = $1', ['de'])).rows).toEqual([{ name: 'Germany' }])
    await asA(() => k.deleteFrom('countries').where('code', '=', 'de').execute())
    await refusedWith(DDL, () => asA(() => k.schema.dropTable('countries').execute()))
    expect((await admin.query('select count(*)::int as n from shared.countries')).rows).toEqual([{ n: 2 }])
  })

  it("the routed connection's tree path refuses a shared write itself, whatever plugins qualified the tree", async () => {
    const before = await snapshot()
    // Kysely's own WithSchemaPlugin, not Switchyard's: the tree names shared.countries and skips the SQL guard.
    const k = new Kysely<DB>({ dialect: new RoutedDialect(sy, 'postgres'), plugins: [new WithSchemaPlugin('tenant_a')] })
    await refusedWith(DML, () => asA(() => k.withSchema('shared').insertInto('countries').values({ code: 'de', name: 'Germany' }).execute()))
    await refusedWith(DML, () => asA(() => k.withSchema('shared').deleteFrom('countries').execute()))
    expect(await snapshot()).toEqual(before)
  })

  it('tenantSchemaPlugin on a plain Kysely dialect refuses them too, and takes sharedWrites', async () => {
    const before = await snapshot()
    const dialect = () => new PostgresDialect({ pool: new pg.Pool({ connectionString: db.connectionString, max: 1 }) })
    const plain = new Kysely<DB>({ dialect: dialect(), plugins: [tenantSchemaPlugin(() => 'tenant_a', { sharedTables })] })
    const writing = new Kysely<DB>({ dialect: dialect(), plugins: [tenantSchemaPlugin(() => 'tenant_a', { sharedTables, sharedWrites: true })] })
    try {
      await refusedWith(DML, () => plain.insertInto('countries').values({ code: 'de', name: 'Germany' }).execute())
      await refusedWith(DML, () => plain.deleteFrom('countries').execute())
      await refusedWith(DDL, () => plain.schema.dropTable('countries').execute())
      await refusedWith(DDL, () => writing.schema.dropTable('countries').execute())
      expect(await plain.selectFrom('countries').select('name').where('code', '=', 'fr').execute()).toEqual([{ name: 'France' }])
      await writing.insertInto('countries').values({ code: 'de', name: 'Germany' }).execute()
      await writing.deleteFrom('countries').where('code', '=', 'de').execute()
    } finally {
      await plain.destroy()
      await writing.destroy()
    }
    expect(await snapshot()).toEqual(before)
  })
})

describe('changes to shared schemas on PGlite', () => {
  it('refuses DDL, TRUNCATE and DML on the shared schema under both strategies; sharedWrites allows only the DML', async () => {
    const instance = new PGlite()
    const pool = pglite({ instance }).createPool()
    try {
      for (const statement of SETUP) await pool.query(statement)
      const snapshot = async () => (await pool.query<{ snapshot: unknown }>(SNAPSHOT)).rows[0]!.snapshot
      const before = await snapshot()
      const router = new SchemaRouter({ shared: ['shared'], sharedTables })
      const writer = new SchemaRouter({ shared: ['shared'], sharedTables, sharedWrites: true })
      const ddl = ['drop table countries', 'truncate countries', 'alter table shared.countries add column x int', 'alter table orders set schema shared', 'create index on countries (code, name)']
      const dml = ["insert into countries values ('de', 'Germany')", "update shared.countries set name = 'pwned'", 'with gone as (delete from countries returning *) select * from gone']
      for (const strategy of ['qualify', 'transaction'] as const) {
        for (const s of ddl) {
          await refusedWith(DDL, () => router.run(pool, s, [], 'tenant_a', { strategy }))
          await refusedWith(DDL, () => writer.run(pool, s, [], 'tenant_a', { strategy }))
        }
        for (const s of dml) await refusedWith(DML, () => router.run(pool, s, [], 'tenant_a', { strategy }))
        expect((await router.run<{ name: string }>(pool, 'select c.name from orders o join countries c on c.code = o.owner', [], 'tenant_a', { strategy })).rows).toEqual([{ name: 'France' }])
      }
      expect(await snapshot()).toEqual(before)
      await writer.run(pool, "insert into countries values ('de', 'Germany')", [], 'tenant_a')
      expect((await pool.query('select name from shared.countries where code = $1', ['de'])).rows).toEqual([{ name: 'Germany' }])
      await writer.run(pool, "delete from countries where code = 'de'", [], 'tenant_a', { strategy: 'transaction' })
      await router.run(pool, 'create table orders2 (id int primary key, country text references shared.countries (code))', [], 'tenant_a')
      expect((await pool.query(`select n.nspname from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relname = 'orders2'`)).rows).toEqual([{ nspname: 'tenant_a' }])
      expect(await snapshot()).toEqual(before)
    } finally {
      await pool.close()
      await instance.close()
    }
  })
})

describe.skipIf(!ok)('an unqualified change never resolves into a shared schema through the search path (real PostgreSQL)', () => {
  // `regions` and `region_count()` live only in the shared schema and are not in sharedTables:
  // reads find them through the search path; a change naming them without a schema must not.
  let db: TempDatabase
  let admin: EnginePool
  let viaQualify: Switchyard
  let viaTx: Switchyard
  const shared = async () =>
    (
      await admin.query<{ rows: number; fn: boolean }>(
        `select (select count(*)::int from shared.regions) as rows, to_regprocedure('shared.region_count()') is not null as fn`,
      )
    ).rows[0]

  beforeAll(async () => {
    db = await createTempPgDatabase('sy_shpath')
    admin = postgres({ connectionString: db.connectionString, max: 2 }).createPool()
    for (const statement of [
      `create schema tenant_a`,
      `create table tenant_a.orders (id int primary key, owner text not null)`,
      `insert into tenant_a.orders values (1, 'fr'), (2, 'nz')`,
      `create schema shared`,
      `create table shared.regions (code text primary key)`,
      `insert into shared.regions values ('eu'), ('oc')`,
      `create function shared.region_count() returns bigint language sql stable as 'select count(*) from shared.regions'`,
    ]) {
      await admin.query(statement)
    }
    const make = (strategy: 'qualify' | 'transaction') =>
      createSwitchyard({ databases: { default: postgres({ connectionString: db.connectionString, max: 3 }) }, routers: [tenantSchema], schemaRouting: { strategy, shared: ['shared'] } })
    viaQualify = make('qualify')
    viaTx = make('transaction')
  })

  afterAll(async () => {
    await Promise.all([viaQualify?.close(), viaTx?.close(), admin?.close()])
    await db?.drop()
  })

  const notFound = async (run: () => Promise<unknown>, what: RegExp): Promise<void> => {
    const err = await run().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect((err as Error | undefined)?.message).toMatch(what)
  }

  for (const strategy of ['qualify', 'transaction'] as const) {
    it(`${strategy}: drop table, truncate, delete, alter and drop function by bare name find nothing in the shared schema`, async () => {
      const sy = strategy === 'qualify' ? viaQualify : viaTx
      await notFound(() => asA(() => sy.write('drop table regions')), /regions" does not exist/)
      await notFound(() => asA(() => sy.write('truncate regions')), /regions" does not exist/)
      await notFound(() => asA(() => sy.write(`delete from regions where code = 'eu'`)), /regions" does not exist/)
      await notFound(() => asA(() => sy.write('alter table regions add column x int')), /regions" does not exist/)
      await notFound(() => asA(() => sy.write('drop function region_count()')), /region_count\(\) does not exist/)
      await notFound(() => asA(() => sy.write(`comment on function region_count() is 'mine'`)), /region_count\(\) does not exist/)
      expect(await shared()).toEqual({ rows: 2, fn: true })
      // Reads through the path still reach the shared schema, and the tenant's own changes still run.
      expect((await asA(() => sy.read<{ n: string }>('select region_count() as n'))).rows).toEqual([{ n: '2' }])
      expect((await asA(() => sy.write(`delete from orders where id = 2`))).rowCount).toBe(1)
      await admin.query(`insert into tenant_a.orders values (2, 'nz') on conflict do nothing`)
    })
  }

  it('inside sy.transaction: the bare-name change finds nothing, and the statements after it see the shared schema again', async () => {
    await notFound(() => asA(() => viaTx.transaction((tx) => tx.write(`delete from regions`))), /regions" does not exist/)
    expect(await shared()).toEqual({ rows: 2, fn: true })
    const seen = await asA(() =>
      viaTx.transaction(async (tx) => {
        await tx.write(`update orders set owner = 'be' where id = 1`)
        return (await tx.read<{ n: string }>('select region_count() as n')).rows
      }),
    )
    expect(seen).toEqual([{ n: '2' }])
    expect((await admin.query(`select owner from tenant_a.orders where id = 1`)).rows).toEqual([{ owner: 'be' }])
  })
})
