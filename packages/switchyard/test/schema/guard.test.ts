import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeStatement, ensureParser, guardAnalyzed, qualifyAnalyzed, SchemaRouter, TenantIsolationError, type EnginePool } from '../../src/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { createTempPgDatabase, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'

const shared = new Set(['shared'])
const guard = (sql: string) => guardAnalyzed(analyzeStatement(sql), 'tenant_a', shared)

beforeAll(() => ensureParser())

describe('guard: explicit references to another schema, wherever they are', () => {
  it.each([
    'select * from tenant_b.orders',
    'select * from orders where id in (select order_id from tenant_b.items)',
    'with x as (select * from tenant_b.orders) select * from x',
    'with recursive r(n) as (select 1 union all select n + 1 from r join tenant_b.orders o on o.id = r.n) select * from r',
    'select * from orders o join tenant_b.orders b on b.id = o.id',
    'select * from orders o left join lateral (select * from tenant_b.items i where i.order_id = o.id) x on true',
    'select coalesce((select max(id) from tenant_b.orders), 0)',
    'select tenant_b.secret_fn(id) from orders',
    'select lower((select name from tenant_b.users limit 1))',
    "select pg_relation_size('tenant_b.orders')",
    "select 'tenant_b.orders'::regclass",
    'insert into orders select * from tenant_b.orders',
    'insert into tenant_b.orders values (1)',
    'update tenant_b.orders set total = 0',
    'delete from orders using tenant_b.orders b where b.id = orders.id',
    'select 1::tenant_b.money_type',
    'select tenant_b.orders.id from orders',
    // Statements that name schemas outside table references.
    'drop table tenant_b.orders',
    'drop schema tenant_b cascade',
    'alter table orders set schema tenant_b',
    'comment on column tenant_b.orders.id is $$x$$',
    'grant select on all tables in schema tenant_b to public',
    'alter schema tenant_b rename to gone',
    'create schema tenant_c',
    'truncate tenant_b.orders',
  ])('refuses %s', (sql) => {
    expect(() => guard(sql)).toThrow(TenantIsolationError)
  })

  it.each([
    'select * from orders',
    'select * from tenant_a.orders',
    'select * from orders o join shared.countries c on c.code = o.country',
    'select * from pg_catalog.pg_class where relname = $1',
    'select table_name from information_schema.tables',
    'select pg_catalog.now(), 1::pg_catalog.int4',
    "select 'tenant_a.orders'::regclass",
    "create type mood as enum ('a', 'b')",
    'comment on column orders.id is $$x$$',
    'drop table orders',
    "select set_config('statement_timeout', '1s', true)",
  ])('allows %s', (sql) => {
    expect(() => guard(sql)).not.toThrow()
  })

  it.each([
    ['set search_path to tenant_b', /session state/],
    ["select set_config('search_path', 'tenant_b', false)", /session state/],
    ['select set_config($1, $2, false)', /session state/],
    ['do $$ begin perform * from tenant_b.orders; end $$', /cannot be checked/],
    ["create function f() returns int language plpgsql as $$ begin return (select count(*) from tenant_b.orders); end $$", /cannot be checked/],
  ])('refuses what it cannot verify: %s', (sql, message) => {
    expect(() => guard(sql)).toThrow(message)
  })
})

describe('qualify: DML targets are tables even when a CTE has their name', () => {
  it('qualifies the target, while the body still reads the CTE', () => {
    const q = (sql: string) => qualifyAnalyzed(sql, analyzeStatement(sql), 'tenant_a')
    expect(q('with orders as (select * from orders where id > 1) delete from orders where id in (select id from orders)')).toBe(
      'with orders as (select * from "tenant_a".orders where id > 1) delete from "tenant_a".orders where id in (select id from orders)',
    )
    expect(q('with x as (select 1), d as (delete from x returning *) select * from d')).toBe(
      'with x as (select 1), d as (delete from "tenant_a".x returning *) select * from d',
    )
    expect(q('with orders as (select 1 as id) insert into orders select * from orders')).toBe(
      'with orders as (select 1 as id) insert into "tenant_a".orders select * from orders',
    )
  })

  it('leaves temporary tables to the transaction strategy', () => {
    expect(analyzeStatement('create temp table scratch (id int)').unqualifiable).toMatch(/temporary/)
  })
})

const ok = await serviceAvailable('postgres')

describe.skipIf(!ok)('guard and qualify against a real database', () => {
  let db: TempDatabase
  let pool: EnginePool
  const router = new SchemaRouter({ shared: ['shared'] })

  beforeAll(async () => {
    db = await createTempPgDatabase('sy_guard')
    pool = postgres({ connectionString: db.connectionString, max: 3 }).createPool()
    for (const s of ['tenant_a', 'tenant_b', 'public']) {
      if (s !== 'public') await pool.query(`create schema ${s}`)
      await pool.query(`create table ${s}.orders (id int primary key, owner text not null)`)
      await pool.query(`insert into ${s}.orders values (1, '${s}'), (2, '${s}')`)
    }
  })

  afterAll(async () => {
    await pool?.close()
    await db?.drop()
  })

  it('a cross-tenant DROP or SET SCHEMA never reaches the database, under either strategy', async () => {
    for (const strategy of ['qualify', 'transaction'] as const) {
      for (const sql of ['drop table tenant_b.orders', 'drop schema tenant_b cascade', 'alter table orders set schema tenant_b', 'select * from tenant_b.orders']) {
        await expect(router.run(pool, sql, [], 'tenant_a', { strategy })).rejects.toBeInstanceOf(TenantIsolationError)
      }
    }
    const { rows } = await pool.query<{ owner: string }>('select owner from tenant_b.orders order by id')
    expect(rows.map((r) => r.owner)).toEqual(['tenant_b', 'tenant_b'])
  })

  it('a DML target shadowed by a CTE writes the tenant table, never public', async () => {
    await router.run(pool, 'with orders as (select 2 as id) delete from orders where id in (select id from orders)', [], 'tenant_a')
    expect((await pool.query('select id from tenant_a.orders')).rows).toEqual([{ id: 1 }])
    expect((await pool.query('select id from public.orders order by id')).rows).toEqual([{ id: 1 }, { id: 2 }])
  })
})
