import { beforeAll, describe, expect, it } from 'vitest'
import { analyzeStatement, ensureParser, guardAnalyzed, qualifyAnalyzed, TenantIsolationError, UnqualifiableStatementError } from '../../src/index.js'

const shared = new Set(['shared'])
const q = (sql: string, schema = 'tenant_a', sharedTables: Record<string, string> = {}) => qualifyAnalyzed(sql, analyzeStatement(sql), schema, sharedTables)
const guard = (sql: string, schema = 'tenant_a') => guardAnalyzed(analyzeStatement(sql), schema, shared)

beforeAll(() => ensureParser())

describe('qualifying statements (text splice at parser positions)', () => {
  it.each([
    ['select * from orders where id = $1', 'select * from "tenant_a".orders where id = $1'],
    ['select o.id from orders o join items i on i.order_id = o.id', 'select o.id from "tenant_a".orders o join "tenant_a".items i on i.order_id = o.id'],
    ['insert into orders (id) values ($1)', 'insert into "tenant_a".orders (id) values ($1)'],
    ['update orders set total = 1 where id in (select order_id from items)', 'update "tenant_a".orders set total = 1 where id in (select order_id from "tenant_a".items)'],
    ['delete from orders using items where items.order_id = orders.id', 'delete from "tenant_a".orders using "tenant_a".items where items.order_id = orders.id'],
    ['select * from "Orders"', 'select * from "tenant_a"."Orders"'],
    ['create table notes (id int)', 'create table "tenant_a".notes (id int)'],
    ['create index on notes (id)', 'create index on "tenant_a".notes (id)'],
    ['select lower(name) from users', 'select lower(name) from "tenant_a".users'],
    ["select 'é' as x, * from orders", `select 'é' as x, * from "tenant_a".orders`],
  ])('%s', (sql, expected) => {
    expect(q(sql)).toBe(expected)
  })

  it('leaves CTE names alone, but a CTE body that reads the table of the same name reads the real table', () => {
    expect(q('with orders as (select * from orders where paid) select * from orders')).toBe(
      'with orders as (select * from "tenant_a".orders where paid) select * from orders',
    )
    expect(q('with recursive t(n) as (select 1 union all select n + 1 from t where n < 3) select * from t, items')).toBe(
      'with recursive t(n) as (select 1 union all select n + 1 from t where n < 3) select * from t, "tenant_a".items',
    )
    // A CTE defined in a subquery does not hide the outer table.
    expect(q('select * from x where exists (with x as (select 1) select * from x)')).toBe('select * from "tenant_a".x where exists (with x as (select 1) select * from x)')
  })

  it('qualifies a SELECT INTO target even when a CTE has its name: PostgreSQL never resolves it to a CTE', () => {
    expect(q('with orders as (select * from orders) select * into orders from orders')).toBe(
      'with orders as (select * from "tenant_a".orders) select * into "tenant_a".orders from orders',
    )
    // In a set operation the INTO clause sits on the leftmost branch, the WITH clause on the whole.
    expect(q('with x as (select 1 as a) select * into x from x union select 2')).toBe('with x as (select 1 as a) select * into "tenant_a".x from x union select 2')
    expect(q('explain analyze with x as (select 1 as a) select * into x from x')).toBe('explain analyze with x as (select 1 as a) select * into "tenant_a".x from x')
    // CREATE TABLE AS: the WITH belongs to the query, the target was already outside its scope.
    expect(q('create table x as with x as (select * from x) select * from x')).toBe('create table "tenant_a".x as with x as (select * from "tenant_a".x) select * from x')
    // The INTO target of a set operation is a write like any other: never into a catalog.
    expect(() => guard('select 1 as a into information_schema.mailbox union select 2')).toThrow(/SELECT INTO information_schema.mailbox writes to a catalog relation/)
  })

  it('sends shared tables to their shared schema', () => {
    expect(q('select * from orders join countries using (code)', 'tenant_a', { countries: 'shared' })).toBe(
      'select * from "tenant_a".orders join "shared".countries using (code)',
    )
  })

  it('refuses to qualify what it cannot pin, so the caller falls back to a local search_path', () => {
    expect(() => q('drop table orders')).toThrow(UnqualifiableStatementError)
    expect(() => q(`select nextval('orders_id_seq')`)).toThrow(UnqualifiableStatementError)
    expect(() => q(`select 'orders'::regclass`)).toThrow(UnqualifiableStatementError)
  })
})

describe('the tenant-schema guard', () => {
  it.each([
    'select * from tenant_b.orders',
    'select * from orders where id in (select order_id from tenant_b.items)',
    'with x as (select * from tenant_b.orders) select * from x',
    'select * from orders o join tenant_b.orders p on p.id = o.id',
    'select coalesce((select max(id) from tenant_b.orders), 0)',
    'select lower((select name from tenant_b.users limit 1))',
    'select tenant_b.orders.id from orders',
    `select pg_total_relation_size('tenant_b.orders')`,
    `select 'tenant_b.orders'::regclass`,
    `select tenant_b.secret_fn()`,
    'insert into tenant_b.orders select * from orders',
    'select * from public.orders',
  ])('refuses %s as tenant_a', (sql) => {
    expect(() => guard(sql)).toThrow(TenantIsolationError)
  })

  it.each([
    'select * from orders',
    'select * from tenant_a.orders',
    'select * from orders join shared.countries using (code)',
    'select * from pg_catalog.pg_class',
    'select * from information_schema.tables',
    `select 'tenant_b.orders' as just_a_string`,
    `select lower('tenant_b.orders')`,
  ])('allows %s as tenant_a', (sql) => {
    expect(() => guard(sql)).not.toThrow()
  })

  it('refuses session-level changes that would outlive the statement on a pooled connection', () => {
    expect(() => guard('set search_path = tenant_b')).toThrow(/session state/)
    expect(() => guard('set role other')).toThrow(TenantIsolationError)
    expect(() => guard('reset all')).toThrow(TenantIsolationError)
  })
})

describe('relations outside FROM lists', () => {
  it.each([
    ['create table n as select * from orders', 'create table "tenant_a".n as select * from "tenant_a".orders'],
    ['create view v as select * from orders', 'create view "tenant_a".v as select * from "tenant_a".orders'],
    ['create table li (id int references orders (id))', 'create table "tenant_a".li (id int references "tenant_a".orders (id))'],
    ['truncate a, b', 'truncate "tenant_a".a, "tenant_a".b'],
    ['alter table x add column y int', 'alter table "tenant_a".x add column y int'],
    ['merge into t using s on t.id = s.id when matched then delete', 'merge into "tenant_a".t using "tenant_a".s on t.id = s.id when matched then delete'],
    ['select * from orders o for update of o', 'select * from "tenant_a".orders o for update of o'],
  ])('%s', (sql, expected) => {
    expect(q(sql)).toBe(expected)
  })
  it.each(['create table tenant_b.x (id int)', 'create table x (id int references tenant_b.orders (id))', 'update tenant_b.orders set id = 1', 'delete from tenant_b.orders'])(
    'the guard sees %s',
    (sql) => {
      expect(() => guard(sql)).toThrow(TenantIsolationError)
    },
  )
})

describe('? placeholders (MySQL and SQLite style)', () => {
  it('qualifies at the right places whatever ? and quoted ? come before', () => {
    const sql = `select * from a where x = ? and note = '?' and y in (select z from b where w = ?) -- ? here\nand k = ?`
    expect(qualifyAnalyzed(sql, analyzeStatement(sql, 'question'), 'tenant_a')).toBe(
      `select * from "tenant_a".a where x = ? and note = '?' and y in (select z from "tenant_a".b where w = ?) -- ? here\nand k = ?`,
    )
    const insert = 'insert into orders (tag, qty) values (?, ?)'
    expect(qualifyAnalyzed(insert, analyzeStatement(insert, 'question'), 'tenant_a')).toBe('insert into "tenant_a".orders (tag, qty) values (?, ?)')
  })
})
