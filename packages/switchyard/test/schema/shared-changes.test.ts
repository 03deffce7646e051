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
    expect(await asA(() => k.selectFrom('countries').select('code').orderBy('code').forShare().execute())).toEqual([{ code: 'fr' }, { code: 'nz' }])
    expect(await asA(() => k.transaction().execute((trx) => trx.selectFrom('countries').select('code').orderBy('code').forKeyShare().execute()))).toEqual([{ code: 'fr' }, { code: 'nz' }])
    expect(await asA(() => k.transaction().execute((trx) => trx.selectFrom('orders').select('id').forUpdate().execute()))).toEqual([{ id: 1 }])
    await asA(() => k.schema.createTable('notes').addColumn('id', 'integer', (c) => c.primaryKey()).execute())
    await asA(() => k.insertInto('notes').values({ id: 1 }).execute())
    await asA(() => k.deleteFrom('orders').where('id', '=', 99).execute())
    expect((await admin.query(`select n.nspname from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relname = 'notes'`)).rows).toEqual([{ nspname: 'tenant_a' }])
    await asA(() => k.schema.dropTable('notes').execute())
  })

  it('Kysely: .forUpdate() / .forNoKeyUpdate() on a shared table is refused in and out of a transaction, and by tenantSchemaPlugin (its row locks would block every tenant); with sharedWrites it runs', async () => {
    const ROW_LOCKS = /SELECT \.\.\. FOR (NO KEY )?UPDATE \(row locks\) on .*countries.* would write rows in shared schema 'shared'/
    const k = sy.kysely<DB>()
    await refusedWith(ROW_LOCKS, () => asA(() => k.transaction().execute((trx) => trx.selectFrom('countries').selectAll().forUpdate().execute())))
    await refusedWith(ROW_LOCKS, () => asA(() => k.transaction().execute((trx) => trx.withSchema('shared').selectFrom('countries').selectAll().forNoKeyUpdate().execute())))
    await refusedWith(ROW_LOCKS, () =>
      asA(() => k.transaction().execute((trx) => trx.selectFrom('orders').innerJoin('countries', 'countries.code', 'orders.owner').selectAll().forUpdate().execute())),
    )
    // Outside a transaction the tree path would skip the SQL guard: a strong lock sends it through the parser.
    await refusedWith(ROW_LOCKS, () => asA(() => k.selectFrom('countries').selectAll().forUpdate().execute()))
    const w = writes.kysely<DB>()
    expect(await asA(() => w.transaction().execute((trx) => trx.selectFrom('countries').select('code').where('code', '=', 'fr').forUpdate().execute()))).toEqual([{ code: 'fr' }])
    const dialect = () => new PostgresDialect({ pool: new pg.Pool({ connectionString: db.connectionString, max: 1 }) })
    const plain = new Kysely<DB>({ dialect: dialect(), plugins: [tenantSchemaPlugin(() => 'tenant_a', { sharedTables })] })
    const writing = new Kysely<DB>({ dialect: dialect(), plugins: [tenantSchemaPlugin(() => 'tenant_a', { sharedTables, sharedWrites: true })] })
    try {
      await refusedWith(ROW_LOCKS, () => plain.selectFrom('countries').selectAll().forUpdate().execute())
      await refusedWith(ROW_LOCKS, () => plain.transaction().execute((trx) => trx.selectFrom('orders').where('owner', 'in', trx.selectFrom('countries').select('code')).selectAll().forNoKeyUpdate().execute()))
      expect(await plain.selectFrom('countries').select('code').where('code', '=', 'fr').forShare().execute()).toEqual([{ code: 'fr' }])
      expect(await plain.selectFrom('orders').select('id').forUpdate().execute()).toEqual([{ id: 1 }])
      expect(await writing.selectFrom('countries').select('code').where('code', '=', 'fr').forUpdate().execute()).toEqual([{ code: 'fr' }])
    } finally {
      await plain.destroy()
      await writing.destroy()
    }
  })

  it('Kysely: a catalog named on the tree goes to the SQL guard, which reads information_schema and refuses pg_stats (other tenants\' values)', async () => {
    const k = sy.kysely<{ 'information_schema.tables': { table_name: string; table_schema: string }; 'pg_catalog.pg_stats': { tablename: string } }>()
    const own = await asA(() => k.selectFrom('information_schema.tables').select('table_name').where('table_schema', '=', 'tenant_a').execute())
    expect(own).toEqual([{ table_name: 'orders' }])
    await refusedWith(/pg_stats exposes other tenants' data/, () => asA(() => k.selectFrom('pg_catalog.pg_stats').select('tablename').execute()))
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

  it('Kysely: a view over a shared table is refused on the routed dialect and by tenantSchemaPlugin; a materialized one and sharedWrites are not', async () => {
    const before = await snapshot()
    const VIEW = /CREATE VIEW \w+ reading .*countries.* would let rows be written into shared schema 'shared' through the view/
    const k = sy.kysely<DB>()
    await refusedWith(VIEW, () => asA(() => k.schema.createView('v').as(k.selectFrom('countries').selectAll()).execute()))
    await refusedWith(VIEW, () => asA(() => k.schema.createView('v').orReplace().as(k.selectFrom('orders').innerJoin('countries', 'countries.code', 'orders.owner').selectAll('countries')).execute()))
    const dialect = () => new PostgresDialect({ pool: new pg.Pool({ connectionString: db.connectionString, max: 1 }) })
    const plain = new Kysely<DB>({ dialect: dialect(), plugins: [tenantSchemaPlugin(() => 'tenant_a', { sharedTables })] })
    const writing = new Kysely<DB>({ dialect: dialect(), plugins: [tenantSchemaPlugin(() => 'tenant_a', { sharedTables, sharedWrites: true })] })
    try {
      await refusedWith(VIEW, () => plain.schema.createView('v').as(plain.selectFrom('countries').selectAll()).execute())
      await refusedWith(VIEW, () => plain.schema.createView('v').as(plain.selectFrom('orders').where('owner', 'in', plain.selectFrom('countries').select('code')).selectAll()).execute())
      await plain.schema.createView('mine').as(plain.selectFrom('orders').selectAll()).execute()
      await plain.schema.createView('names').materialized().as(plain.selectFrom('countries').selectAll()).execute()
      await writing.schema.createView('all_countries').as(writing.selectFrom('countries').selectAll()).execute()
      expect((await admin.query(`select relname, relkind from pg_class where relnamespace = 'tenant_a'::regnamespace and relkind in ('v', 'm') order by 1`)).rows).toEqual([
        { relname: 'all_countries', relkind: 'v' },
        { relname: 'mine', relkind: 'v' },
        { relname: 'names', relkind: 'm' },
      ])
      await writing.schema.dropView('all_countries').execute()
      await plain.schema.dropView('mine').execute()
      await plain.schema.dropView('names').materialized().execute()
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

describe.skipIf(!ok)('views, setval, composite types, domain constraints and locks never reach a shared schema (real PostgreSQL)', () => {
  // No sharedTables: `countries`, `ids`, `comp` and `d` exist only in the shared schema, so an
  // unqualified name finds them through the search path unless the statement is pinned.
  let db: TempDatabase
  let admin: EnginePool
  let viaQualify: Switchyard
  let viaTx: Switchyard
  let writes: Switchyard
  let writesTx: Switchyard
  const routers = (strategy: 'qualify' | 'transaction') => (strategy === 'qualify' ? viaQualify : viaTx)
  const writers = (strategy: 'qualify' | 'transaction') => (strategy === 'qualify' ? writes : writesTx)
  const smallState = async () => (await admin.query(`select last_value, is_called from shared.small`)).rows[0]
  /** Whether another session can lock every row of `table` in `mode` at once (FOR KEY SHARE: what a foreign-key check takes). */
  const rowLockFree = async (table: string, mode: 'key share' | 'share' | 'update' = 'key share') =>
    admin.query(`select count(*) from (select 1 from ${table} for ${mode} nowait) x`).then(
      () => true,
      (err: { sqlState?: string }) => {
        if (err.sqlState === '55P03') return false
        throw err
      },
    )
  const SHARED_STATE = `
    select jsonb_build_object(
      'rows', (select jsonb_agg(jsonb_build_array(code, name) order by code) from shared.countries),
      'ids', (select jsonb_build_array(last_value, is_called) from shared.ids),
      'comp', (select jsonb_agg(attname order by attnum) from pg_attribute where attrelid = 'shared.comp'::regclass and attnum > 0 and not attisdropped),
      'constraints', (select jsonb_agg(jsonb_build_array(c.conname, obj_description(c.oid, 'pg_constraint'))) from pg_constraint c join pg_type t on t.oid = c.contypid where t.typnamespace = 'shared'::regnamespace),
      'relations', (select jsonb_agg(relname order by relname) from pg_class where relnamespace = 'shared'::regnamespace)
    ) as state`
  const sharedState = async () => (await admin.query<{ state: unknown }>(SHARED_STATE)).rows[0]!.state
  const tenantRelations = async () =>
    (await admin.query<{ relname: string }>(`select relname from pg_class where relnamespace = 'tenant_a'::regnamespace and relkind in ('r', 'v', 'm') order by 1`)).rows.map((r) => r.relname)
  const failsWith = async (pattern: RegExp, run: () => Promise<unknown>): Promise<void> => {
    const err = await run().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(Error)
    expect(err).not.toBeInstanceOf(TenantIsolationError)
    expect((err as Error).message).toMatch(pattern)
  }
  const VIEW = /CREATE VIEW \w+ reading shared\.\w+ would let rows be written into shared schema 'shared' through the view.*create such views in a migration/

  beforeAll(async () => {
    db = await createTempPgDatabase('sy_shview')
    admin = postgres({ connectionString: db.connectionString, max: 2 }).createPool()
    for (const statement of [
      `create schema tenant_a`,
      `create table tenant_a.orders (id int primary key, owner text not null)`,
      `insert into tenant_a.orders values (1, 'fr')`,
      `create sequence tenant_a.tenant_seq`,
      `create schema shared`,
      `create table shared.countries (code text primary key, name text not null)`,
      `insert into shared.countries values ('fr', 'France'), ('nz', 'New Zealand')`,
      `create view shared.countries_v as select * from shared.countries`,
      `create sequence shared.ids`,
      `create sequence shared.small as smallint maxvalue 50`,
      `select setval('shared.ids', 1000)`,
      `create type shared.comp as (a int)`,
      `create domain shared.d as int constraint pos check (value > 0)`,
    ]) {
      await admin.query(statement)
    }
    const make = (schemaRouting: Record<string, unknown>) =>
      createSwitchyard({ databases: { default: postgres({ connectionString: db.connectionString, max: 3 }) }, routers: [tenantSchema], schemaRouting })
    viaQualify = make({ strategy: 'qualify', shared: ['shared'] })
    viaTx = make({ strategy: 'transaction', shared: ['shared'] })
    writes = make({ shared: ['shared'], sharedWrites: true })
    writesTx = make({ strategy: 'transaction', shared: ['shared'], sharedWrites: true })
  })

  afterAll(async () => {
    await Promise.all([viaQualify?.close(), viaTx?.close(), writes?.close(), writesTx?.close(), admin?.close()])
    await db?.drop()
  })

  for (const strategy of ['qualify', 'transaction'] as const) {
    it(`${strategy}: a view over a shared table is refused, so no row can be written into the shared schema through it`, async () => {
      const sy = routers(strategy)
      const before = await sharedState()
      for (const sql of [
        'create view v as select * from shared.countries',
        'create or replace view v as select code, name from shared.countries where code <> $$xx$$',
        'create view v as select * from shared.countries_v',
        'create view v as with c as (select * from shared.countries) select * from c',
        'create view v as select * from (select * from shared.countries) s',
        'create view tenant_a.v as select * from shared.countries',
      ]) {
        await refusedWith(VIEW, () => asA(() => sy.write(sql)))
        await refusedWith(VIEW, () => asA(() => sy.transaction((tx) => tx.write(sql))))
      }
      // Unqualified, the view's query is pinned to the tenant's schema under both strategies: it never finds shared.countries.
      await failsWith(/relation "tenant_a\.countries" does not exist/, () => asA(() => sy.write('create view v as select * from countries')))
      await failsWith(/relation "tenant_a\.countries" does not exist/, () => asA(() => sy.write('create view tenant_a.v as select * from countries')))
      // A rule is code the guard cannot read: refused whatever it does.
      await refusedWith(/cannot be checked/, () => asA(() => sy.write(`create rule r as on insert to orders do instead insert into shared.countries values (new.owner, 'x')`)))
      await failsWith(/relation "(tenant_a\.)?v" does not exist/, () => asA(() => sy.write(`insert into v values ('xx', 'planted')`)))
      await failsWith(/relation "(tenant_a\.)?v" does not exist/, () => asA(() => sy.write(`update v set name = 'pwned' where code = 'fr'`)))
      expect(await tenantRelations()).toEqual(['orders'])
      expect(await sharedState()).toEqual(before)
    })

    it(`${strategy}: views over the tenant's own tables are created and written through; a materialized view over a shared table is allowed`, async () => {
      const sy = routers(strategy)
      const before = await sharedState()
      await asA(() => sy.write('create view my_orders as select * from orders where id > 0'))
      await asA(() => sy.write(`insert into my_orders values (2, 'nz')`))
      await asA(() => sy.write(`update my_orders set owner = 'be' where id = 2`))
      await asA(() => sy.write('create view my_orders2 as select * from my_orders'))
      await asA(() => sy.transaction((tx) => tx.write(`delete from my_orders2 where id = 2`)))
      expect((await admin.query('select id, owner from tenant_a.orders order by id')).rows).toEqual([{ id: 1, owner: 'fr' }])
      await asA(() => sy.write(`insert into my_orders2 values (2, 'be')`))
      expect((await admin.query('select owner from tenant_a.orders where id = 2')).rows).toEqual([{ owner: 'be' }])
      await asA(() => sy.write('create materialized view country_names as select code, name from shared.countries'))
      expect((await asA(() => sy.read<{ n: number }>('select count(*)::int as n from country_names'))).rows).toEqual([{ n: 2 }])
      expect((await admin.query(`select n.nspname from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relname in ('my_orders', 'my_orders2', 'country_names') group by 1`)).rows).toEqual([
        { nspname: 'tenant_a' },
      ])
      for (const sql of ['drop view my_orders2', 'drop view my_orders', 'drop materialized view country_names', 'delete from orders where id = 2']) await asA(() => sy.write(sql))
      expect(await sharedState()).toEqual(before)
    })

    it(`${strategy}: an unqualified setval() is pinned to the tenant's sequence and never resets the shared one; nextval and the tenant's setval still run`, async () => {
      const sy = routers(strategy)
      const before = await sharedState()
      await failsWith(/relation "tenant_a\.ids" does not exist/, () => asA(() => sy.read(`select setval('ids', 1)`)))
      await failsWith(/relation "tenant_a\.ids" does not exist/, () => asA(() => sy.transaction((tx) => tx.read(`select setval('ids', 1)`))))
      await failsWith(/relation "ids" does not exist/, () => asA(() => sy.read(`select setval(E'ids', 1)`)))
      await failsWith(/relation "ids" does not exist/, () => asA(() => sy.read(`select setval('ids'::regclass, 1)`)))
      await refusedWith(DML, () => asA(() => sy.read(`select setval('shared.ids', 1)`)))
      expect(await sharedState()).toEqual(before)
      expect((await asA(() => sy.read<{ n: string }>(`select nextval('tenant_seq') as n`))).rows).toHaveLength(1)
      expect((await asA(() => sy.read<{ n: string }>(`select setval('tenant_seq', 42) as n`))).rows).toEqual([{ n: '42' }])
      expect((await admin.query(`select last_value from tenant_a.tenant_seq`)).rows).toEqual([{ last_value: '42' }])
    })

    it(`${strategy}: an explicit nextval() on a shared sequence is refused, so no tenant can exhaust it for the others; the tenant's own sequences and sharedWrites still run`, async () => {
      const sy = routers(strategy)
      const before = await sharedState()
      const small = await smallState()
      for (const sql of [
        `select nextval('shared.small') from generate_series(1, 60)`,
        `select nextval('shared.ids') as n`,
        `select * from orders where id <> (select nextval('shared.small'))`,
        `with x as (select nextval('"shared".small')) select * from x`,
      ]) {
        await refusedWith(/nextval\(\) on .*(small|ids) would write rows in shared schema 'shared'/, () => asA(() => sy.read(sql)))
        await refusedWith(DML, () => asA(() => sy.transaction((tx) => tx.read(sql))))
      }
      // Unqualified, the literal is pinned to the tenant's schema: the shared sequence is not found through the search path.
      await failsWith(/relation "tenant_a\.small" does not exist/, () => asA(() => sy.read(`select nextval('small') from generate_series(1, 60)`)))
      await failsWith(/relation "tenant_a\.small" does not exist/, () => asA(() => sy.transaction((tx) => tx.read(`select nextval('small')`))))
      expect(await smallState()).toEqual(small)
      expect(await sharedState()).toEqual(before)
      // The tenant's own sequence, named or not.
      const seq = async (sql: string) => Number((await asA(() => sy.read<{ n: string }>(sql))).rows[0]!.n)
      const first = await seq(`select nextval('tenant_seq') as n`)
      expect(await seq(`select nextval('tenant_a.tenant_seq') as n`)).toBe(first + 1)
      expect(Number((await asA(() => sy.transaction((tx) => tx.read<{ n: string }>(`select nextval('tenant_seq') as n`)))).rows[0]!.n)).toBe(first + 2)
      // sharedWrites: tenants may draw from (and so exhaust) the shared sequences, as they may write shared rows.
      const w = writers(strategy)
      expect((await asA(() => w.read<{ n: string }>(`select nextval('shared.small') as n`))).rows).toEqual([{ n: '1' }])
      expect((await asA(() => w.transaction((tx) => tx.read<{ n: string }>(`select nextval('shared.ids') as n`)))).rows).toEqual([{ n: '1001' }])
      await admin.query(`select setval('shared.ids', 1000), setval('shared.small', 1, false)`)
      expect(await sharedState()).toEqual(before)
    })

    it(`${strategy}: SELECT ... FOR UPDATE / FOR NO KEY UPDATE on a shared table is refused, so no tenant transaction holds locks on shared rows; FOR SHARE, the tenant's own tables and sharedWrites still run`, async () => {
      const sy = routers(strategy)
      const ROW_LOCKS = /SELECT \.\.\. FOR (NO KEY )?UPDATE \(row locks\) on shared\.countries would write rows in shared schema 'shared'/
      const before = await sharedState()
      const refused = [
        'select * from shared.countries for update',
        'select * from shared.countries for no key update',
        'select * from shared.countries for update nowait',
        'select o.id from orders o join shared.countries c on c.code = o.owner for update',
        'select o.id from orders o join shared.countries c on c.code = o.owner for share of o for update of c',
        'select * from (select * from shared.countries) s for update',
        'with c as (select code from shared.countries for update) select * from c',
        'select * from orders where owner in (select code from shared.countries for no key update)',
      ]
      for (const sql of refused) {
        await refusedWith(ROW_LOCKS, () => asA(() => sy.read(sql)))
        await refusedWith(ROW_LOCKS, () => asA(() => sy.write(sql)))
        // Inside a transaction it is refused before it runs: another session's foreign-key check still gets its lock at once.
        let seen: unknown
        await asA(() =>
          sy.transaction(async (tx) => {
            seen = await tx.read(sql).then(() => undefined, (e: unknown) => e)
            expect(await rowLockFree('shared.countries', 'update')).toBe(true)
          }),
        )
        expect(seen).toBeInstanceOf(TenantIsolationError)
      }
      // Unqualified, the locked relation is pinned to the tenant's schema: the shared table is not found through the search path.
      await failsWith(/relation "tenant_a\.countries" does not exist/, () => asA(() => sy.transaction((tx) => tx.read('select * from countries for update'))))
      // Allowed: FOR SHARE / FOR KEY SHARE on shared rows, FOR UPDATE on the tenant's own rows (OF, or a relation only read in WHERE).
      await asA(() =>
        sy.transaction(async (tx) => {
          expect((await tx.read('select code from shared.countries order by code for share')).rows).toEqual([{ code: 'fr' }, { code: 'nz' }])
          expect((await tx.read('select code from shared.countries for key share')).rows).toHaveLength(2)
          expect((await tx.read('select o.id from orders o join shared.countries c on c.code = o.owner for update of o')).rows).toEqual([{ id: 1 }])
          expect((await tx.read('select id from orders where owner in (select code from shared.countries) for no key update')).rows).toEqual([{ id: 1 }])
          expect(await rowLockFree('shared.countries')).toBe(true)
          expect(await rowLockFree('tenant_a.orders')).toBe(false)
        }),
      )
      expect(await rowLockFree('tenant_a.orders')).toBe(true)
      // sharedWrites: a tenant may UPDATE those rows anyway (the same locks), so both forms run.
      const w = writers(strategy)
      for (const [sql, blocks] of [
        ['select code from shared.countries for update', 'key share'],
        ['select code from shared.countries for no key update', 'share'],
      ] as const) {
        await asA(() =>
          w.transaction(async (tx) => {
            expect((await tx.read(sql)).rows).toHaveLength(2)
            expect(await rowLockFree('shared.countries', blocks)).toBe(false)
          }),
        )
      }
      expect(await rowLockFree('shared.countries')).toBe(true)
      expect(await sharedState()).toEqual(before)
    })

    it(`${strategy}: ALTER TYPE on an unqualified composite type and COMMENT ON a domain constraint never change the shared ones`, async () => {
      const sy = routers(strategy)
      const before = await sharedState()
      await failsWith(/relation "tenant_a\.comp" does not exist/, () => asA(() => sy.write('alter type comp add attribute b int')))
      await failsWith(/relation "comp" does not exist/, () => asA(() => sy.write('alter type comp rename attribute a to a2')))
      await failsWith(/relation "tenant_a\.comp" does not exist/, () => asA(() => sy.write('alter type comp drop attribute a')))
      await refusedWith(DDL, () => asA(() => sy.write('alter type shared.comp add attribute b int')))
      await refusedWith(DDL, () => asA(() => sy.write(`comment on constraint pos on domain shared.d is 'pwned'`)))
      await refusedWith(DDL, () => asA(() => sy.write('alter domain shared.d rename constraint pos to p2')))
      await failsWith(/type "d" does not exist/, () => asA(() => sy.write(`comment on constraint pos on domain d is 'pwned'`)))
      expect(await sharedState()).toEqual(before)
      // The tenant's own composite type is still altered, in its schema.
      await asA(() => sy.write('create type tcomp as (a int)'))
      await asA(() => sy.write('alter type tcomp add attribute b int'))
      await asA(() => sy.write('alter type tcomp rename attribute a to a2'))
      expect((await admin.query(`select attname from pg_attribute where attrelid = 'tenant_a.tcomp'::regclass and attnum > 0 order by attnum`)).rows).toEqual([{ attname: 'a2' }, { attname: 'b' }])
      await asA(() => sy.write('drop type tcomp'))
    })

    it(`${strategy}: LOCK stronger than ROW EXCLUSIVE on a shared table is refused; weaker locks and the tenant's own tables are not`, async () => {
      const sy = routers(strategy)
      const LOCK = /LOCK TABLE shared\.countries IN \w[\w ]* MODE would lock a table in shared schema 'shared'/
      for (const mode of ['share update exclusive', 'share', 'share row exclusive', 'exclusive', 'access exclusive']) {
        await refusedWith(LOCK, () => asA(() => sy.transaction((tx) => tx.write(`lock table shared.countries in ${mode} mode`))))
        await refusedWith(LOCK, () => asA(() => writes.transaction((tx) => tx.write(`lock table shared.countries in ${mode} mode`))))
      }
      await refusedWith(LOCK, () => asA(() => sy.transaction((tx) => tx.write('lock table shared.countries'))))
      // Unqualified, it is pinned to the tenant's schema: it cannot lock the shared table through the search path.
      await failsWith(/relation "countries" does not exist/, () => asA(() => sy.transaction((tx) => tx.write('lock table countries in access exclusive mode'))))
      // Another session still reads the shared table at once: no lock was taken.
      const other = await admin.query(`select count(*)::int as n from pg_locks l join pg_class c on c.oid = l.relation where c.relname = 'countries'`)
      expect(other.rows).toEqual([{ n: 0 }])
      await asA(() => sy.transaction((tx) => tx.write('lock table shared.countries in row exclusive mode')))
      await asA(() => sy.transaction((tx) => tx.write('lock table shared.countries in access share mode')))
      await asA(() => sy.transaction((tx) => tx.write('lock table orders in access exclusive mode')))
    })

    it(`${strategy}: a tenant table may still reference the shared one`, async () => {
      const sy = routers(strategy)
      await asA(() => sy.write('create table fk (c text references shared.countries on delete restrict)'))
      await asA(() => sy.write(`insert into fk values ('fr')`))
      expect((await admin.query(`select c from tenant_a.fk`)).rows).toEqual([{ c: 'fr' }])
      await asA(() => sy.write('drop table fk'))
    })
  }

  it('transaction: a write whose target is pinned still reads shared tables through the search path', async () => {
    const before = await sharedState()
    await asA(() => viaTx.write(`insert into orders (id, owner) select 3, code from countries where code = 'nz'`))
    await asA(() => viaTx.transaction((tx) => tx.write(`insert into orders (id, owner) select 4, code from countries where code = 'fr'`)))
    await asA(() => viaTx.write(`update orders set owner = (select code from countries where name = 'France') where id = 3`))
    expect((await admin.query('select id, owner from tenant_a.orders where id > 2 order by id')).rows).toEqual([
      { id: 3, owner: 'fr' },
      { id: 4, owner: 'fr' },
    ])
    expect((await asA(() => viaTx.read<{ n: string }>(`select setval('tenant_seq', (select count(*) from countries)) as n`))).rows).toEqual([{ n: '2' }])
    await asA(() => viaTx.write('create table fk2 (c text references countries)'))
    expect((await admin.query(`select confrelid::regclass::text as target from pg_constraint where conrelid = 'tenant_a.fk2'::regclass and contype = 'f'`)).rows).toEqual([
      { target: 'shared.countries' },
    ])
    await asA(() => viaTx.write('drop table fk2'))
    // The targets themselves are still pinned: a shared name the tenant lacks is not found.
    await failsWith(/relation "tenant_a\.countries" does not exist/, () => asA(() => viaTx.write(`insert into countries select * from countries`)))
    await asA(() => viaTx.write('delete from orders where id > 2'))
    expect(await sharedState()).toEqual(before)
  })

  it('sharedWrites lets a tenant create a view over a shared table (and write through it)', async () => {
    await asA(() => writes.write('create view all_countries as select * from shared.countries'))
    await asA(() => writes.write(`insert into all_countries values ('de', 'Germany')`))
    expect((await admin.query(`select name from shared.countries where code = 'de'`)).rows).toEqual([{ name: 'Germany' }])
    await asA(() => writes.write(`delete from all_countries where code = 'de'`))
    await asA(() => writes.write('drop view all_countries'))
  })
})
