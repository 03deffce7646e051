import { beforeAll, describe, expect, it } from 'vitest'
import { analyzeStatement, ensureParser, guardAnalyzed, qualifyAnalyzed, TenantIsolationError, UnqualifiableStatementError } from '../../src/index.js'
import { ChangeCollector, statementChanges } from '../../src/sql/change-targets.js'

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
    // An unqualified nextval() literal is pinned like setval()'s; one the splice cannot read is not.
    expect(q(`select nextval('orders_id_seq')`)).toBe(`select nextval('"tenant_a".orders_id_seq')`)
    expect(() => q(`select nextval(E'orders_id_seq')`)).toThrow(UnqualifiableStatementError)
    expect(() => q(`select nextval('orders_id_seq'::regclass)`)).toThrow(UnqualifiableStatementError)
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

describe('changes to shared schemas (analysis and guard, no database)', () => {
  const sharedTables = { countries: 'shared' }
  const check = (sql: string, options: { sharedWrites?: boolean; schema?: string } = {}) =>
    guardAnalyzed(analyzeStatement(sql), options.schema ?? 'tenant_a', shared, { sharedTables, sharedWrites: options.sharedWrites })
  const refusal = (sql: string, options?: { sharedWrites?: boolean }): TenantIsolationError => {
    try {
      check(sql, options)
    } catch (err) {
      if (err instanceof TenantIsolationError) return err
      throw err
    }
    throw new Error(`not refused: ${sql}`)
  }

  // [statement, kind in the message, object in the message]
  const structure: readonly (readonly [string, string, string])[] = [
    ['drop table shared.countries', 'DROP TABLE', 'shared.countries'],
    ['drop table countries', 'DROP TABLE', 'countries (shared table shared.countries)'],
    ['drop table if exists orders, shared.countries cascade', 'DROP TABLE', 'shared.countries'],
    ['drop view shared.v', 'DROP VIEW', 'shared.v'],
    ['drop materialized view shared.mv', 'DROP MATERIALIZED VIEW', 'shared.mv'],
    ['drop index shared.countries_pkey', 'DROP INDEX', 'shared.countries_pkey'],
    ['drop sequence shared.ids', 'DROP SEQUENCE', 'shared.ids'],
    ['drop type shared.mood', 'DROP TYPE', 'shared.mood'],
    ['drop function shared.motto()', 'DROP FUNCTION', 'shared.motto'],
    ['drop operator class shared.c using btree', 'DROP OPERATOR CLASS', 'shared.c'],
    ['truncate shared.countries', 'TRUNCATE', 'shared.countries'],
    ['truncate countries', 'TRUNCATE', 'countries (shared table shared.countries)'],
    ['truncate orders, countries restart identity', 'TRUNCATE', 'countries (shared table shared.countries)'],
    ['alter table shared.countries add column x int', 'ALTER TABLE', 'shared.countries'],
    ['alter table countries drop column name', 'ALTER TABLE', 'countries (shared table shared.countries)'],
    ['alter table shared.countries owner to bob', 'ALTER TABLE', 'shared.countries'],
    ['alter table shared.countries enable row level security', 'ALTER TABLE', 'shared.countries'],
    ['alter index shared.countries_pkey set (fillfactor = 50)', 'ALTER INDEX', 'shared.countries_pkey'],
    ['alter table orders inherit shared.countries', 'ALTER TABLE ... INHERIT', 'shared.countries'],
    ['alter table orders attach partition shared.countries for values in (1)', 'ALTER TABLE ... PARTITION', 'shared.countries'],
    ['alter table orders set schema shared', 'ALTER TABLE', 'orders SET SCHEMA shared'],
    ['alter table shared.countries set schema tenant_a', 'ALTER TABLE', 'shared.countries SET SCHEMA tenant_a'],
    ['alter type mood set schema shared', 'ALTER TYPE', 'mood SET SCHEMA shared'],
    ['alter function f() set schema shared', 'ALTER FUNCTION', 'f SET SCHEMA shared'],
    ['alter table shared.countries rename to gone', 'ALTER TABLE ... RENAME', 'shared.countries'],
    ['alter table countries rename column name to label', 'ALTER TABLE ... RENAME', 'countries (shared table shared.countries)'],
    ['alter type shared.mood rename to feeling', 'ALTER TYPE ... RENAME', 'shared.mood'],
    ["alter type shared.mood add value 'x'", 'ALTER TYPE', 'shared.mood'],
    ['alter domain shared.code set not null', 'ALTER DOMAIN', 'shared.code'],
    ['alter function shared.motto() stable', 'ALTER FUNCTION', 'shared.motto'],
    ['alter function shared.motto() owner to bob', 'ALTER FUNCTION ... OWNER TO', 'shared.motto'],
    ['alter sequence shared.ids restart', 'ALTER SEQUENCE', 'shared.ids'],
    ['create table shared.x (id int)', 'CREATE TABLE', 'shared.x'],
    ['create table countries (id int)', 'CREATE TABLE', 'countries (shared table shared.countries)'],
    ['create table x () inherits (shared.countries)', 'CREATE TABLE ... INHERITS', 'shared.countries'],
    ['create table x partition of countries for values in (1)', 'CREATE TABLE ... PARTITION OF', 'countries (shared table shared.countries)'],
    ['create table shared.x as select * from orders', 'CREATE TABLE AS', 'shared.x'],
    ['create materialized view shared.mv as select 1', 'CREATE TABLE AS', 'shared.mv'],
    ['select * into shared.x from orders', 'SELECT INTO', 'shared.x'],
    ['create index on shared.countries (name)', 'CREATE INDEX ON', 'shared.countries'],
    ['create index countries_name on countries (name)', 'CREATE INDEX ON', 'countries (shared table shared.countries)'],
    ['create view shared.v as select 1', 'CREATE VIEW', 'shared.v'],
    ['create sequence shared.ids', 'CREATE SEQUENCE', 'shared.ids'],
    ["create type shared.mood as enum ('a')", 'CREATE TYPE', 'shared.mood'],
    ['create type shared.pair as (a int, b int)', 'CREATE TYPE', 'shared.pair'],
    ['create domain shared.code as text', 'CREATE DOMAIN', 'shared.code'],
    ['create aggregate shared.total (int) (sfunc = int4pl, stype = int)', 'CREATE AGGREGATE', 'shared.total'],
    ['create statistics shared.s on code, name from shared.countries', 'CREATE STATISTICS', 'shared.s'],
    ['create statistics s on code, name from countries', 'CREATE STATISTICS ... ON', 'countries (shared table shared.countries)'],
    ['create policy p on shared.countries using (true)', 'CREATE POLICY ... ON', 'shared.countries'],
    ['create schema shared', 'CREATE SCHEMA', 'shared'],
    ["comment on table shared.countries is 'x'", 'COMMENT ON TABLE', 'shared.countries'],
    ["comment on table countries is 'x'", 'COMMENT ON TABLE', 'countries (shared table shared.countries)'],
    ["comment on column shared.countries.name is 'x'", 'COMMENT ON COLUMN', 'shared.countries.name'],
    ["comment on column countries.name is 'x'", 'COMMENT ON COLUMN', 'countries.name (shared table shared.countries)'],
    ["comment on function shared.motto() is 'x'", 'COMMENT ON FUNCTION', 'shared.motto'],
    ['grant select on shared.countries to public', 'GRANT ... ON TABLE', 'shared.countries'],
    ['grant insert on countries to public', 'GRANT ... ON TABLE', 'countries (shared table shared.countries)'],
    ['revoke select on shared.countries from public', 'REVOKE ... ON TABLE', 'shared.countries'],
    ['grant execute on function shared.motto() to public', 'GRANT ... ON FUNCTION', 'shared.motto'],
    ['refresh materialized view shared.mv', 'REFRESH MATERIALIZED VIEW', 'shared.mv'],
    ['vacuum full shared.countries', 'VACUUM', 'shared.countries'],
    ['analyze countries', 'ANALYZE', 'countries (shared table shared.countries)'],
    ['cluster shared.countries using countries_pkey', 'CLUSTER', 'shared.countries'],
    ['reindex table shared.countries', 'REINDEX TABLE', 'shared.countries'],
    ['explain analyze create table shared.x as select 1', 'CREATE TABLE AS', 'shared.x'],
  ]

  it.each(structure)('refuses %s, always: DDL on a shared schema belongs to migrations', (sql, kind, object) => {
    for (const sharedWrites of [false, true]) {
      const err = refusal(sql, { sharedWrites })
      expect(err.message).toContain(`${kind} ${object} would change shared schema 'shared'`)
      expect(err.message).toMatch(/migrations on an admin connection/)
      expect(err.message).toMatch(/from a tenant context/)
      expect(err.schema).toBe('shared')
      expect(err.tenantSchema).toBe('tenant_a')
    }
  })

  const rows: readonly (readonly [string, string, string])[] = [
    ["insert into shared.countries values ('de', 'Germany')", 'INSERT INTO', 'shared.countries'],
    ["insert into countries values ('de', 'Germany')", 'INSERT INTO', 'countries (shared table shared.countries)'],
    ["insert into countries values ('fr', 'x') on conflict (code) do update set name = excluded.name", 'INSERT INTO', 'countries (shared table shared.countries)'],
    ["update shared.countries set name = 'x'", 'UPDATE', 'shared.countries'],
    ["update countries c set name = o.owner from orders o where o.id = 1", 'UPDATE', 'countries (shared table shared.countries)'],
    ['delete from shared.countries', 'DELETE FROM', 'shared.countries'],
    ['delete from countries using orders o where o.owner = countries.code', 'DELETE FROM', 'countries (shared table shared.countries)'],
    ['merge into countries c using orders o on false when not matched then do nothing', 'MERGE INTO', 'countries (shared table shared.countries)'],
    ['copy shared.countries from stdin', 'COPY ... FROM', 'shared.countries'],
    ['copy countries (code, name) from stdin', 'COPY ... FROM', 'countries (shared table shared.countries)'],
    ['with gone as (delete from countries returning *) select * from gone', 'DELETE FROM', 'countries (shared table shared.countries)'],
    ['with x as (delete from shared.countries returning *) select count(*) from x', 'DELETE FROM', 'shared.countries'],
    ["with c as (select 1) insert into countries select 'x', 'y' from c", 'INSERT INTO', 'countries (shared table shared.countries)'],
    ["with countries as (select 'de' as code, 'Germany' as name) insert into countries select * from countries", 'INSERT INTO', 'countries (shared table shared.countries)'],
    ["with u as (update shared.countries set name = 'x' returning code) delete from orders where owner in (select code from u)", 'UPDATE', 'shared.countries'],
    ["select * from orders where exists (select 1) and id in (with d as (delete from orders returning id) select id from d)", '', ''],
    ['explain analyze delete from countries', 'DELETE FROM', 'countries (shared table shared.countries)'],
    ["select setval('shared.ids', 1)", 'setval() on', 'shared.ids'],
    ["select nextval('shared.ids') from generate_series(1, 60)", 'nextval() on', 'shared.ids'],
    ["select nextval('\"shared\".ids')", 'nextval() on', '"shared".ids'],
    ["select nextval('countries')", 'nextval() on', 'countries (shared table shared.countries)'],
    ["select * from orders where id = (select nextval('shared.ids'))", 'nextval() on', 'shared.ids'],
    ['select * from shared.countries for update', 'SELECT ... FOR UPDATE (row locks) on', 'shared.countries'],
    ['select * from countries for no key update', 'SELECT ... FOR NO KEY UPDATE (row locks) on', 'countries (shared table shared.countries)'],
    ['select * from orders o join shared.countries c on true for update', 'SELECT ... FOR UPDATE (row locks) on', 'shared.countries'],
    ['select * from orders o join shared.countries c on true for update of c', 'SELECT ... FOR UPDATE (row locks) on', 'shared.countries'],
    ['select * from orders o, countries for share of o for update of countries', 'SELECT ... FOR UPDATE (row locks) on', 'countries (shared table shared.countries)'],
    ['select * from orders o join shared.countries c on true for update of nosuch', 'SELECT ... FOR UPDATE (row locks) on', 'shared.countries'],
    ['select * from (select * from shared.countries) s for update', 'SELECT ... FOR UPDATE (row locks) on', 'shared.countries'],
    ['with c as (select * from shared.countries for update) select * from c', 'SELECT ... FOR UPDATE (row locks) on', 'shared.countries'],
    ['select * from orders where owner in (select code from countries for no key update)', 'SELECT ... FOR NO KEY UPDATE (row locks) on', 'countries (shared table shared.countries)'],
    ['declare cur cursor for select * from shared.countries for update', 'SELECT ... FOR UPDATE (row locks) on', 'shared.countries'],
  ]

  it.each(rows.filter(([, kind]) => kind !== ''))('refuses %s by default, and allows it with sharedWrites', (sql, kind, object) => {
    const err = refusal(sql)
    expect(err.message).toContain(`${kind} ${object} would write rows in shared schema 'shared'`)
    expect(err.message).toMatch(/visible to every tenant/)
    expect(err.message).toMatch(/sharedWrites/)
    expect(() => check(sql, { sharedWrites: true })).not.toThrow()
  })

  it.each([
    'select * from shared.countries',
    'select * from countries',
    'select o.id, c.name from orders o join countries c on c.code = o.owner',
    'select * from orders where owner in (select code from shared.countries)',
    'with c as (select * from countries) select * from c',
    'select * from countries for share',
    'select * from shared.countries for key share',
    'select * from orders o join shared.countries c on true for update of o',
    'select * from orders o join shared.countries c on true for no key update of o for share of c',
    'select * from orders for update',
    'with countries as (select 1) select * from countries for update',
    'with c as (select * from shared.countries) select * from orders, c for update',
    'select * from orders where owner in (select code from shared.countries) for update',
    'select * from pg_class for update',
    "insert into orders select 1, code from countries where name = 'France'",
    'update orders set owner = (select max(code) from shared.countries)',
    'delete from orders using shared.countries c where c.code = orders.owner',
    'create table orders2 (id int, country text references shared.countries (code))',
    'create table orders3 (like shared.countries)',
    'create materialized view mv as select * from shared.countries',
    'create view v as select * from orders',
    'create table snapshot as select * from countries',
    'select * into snapshot from shared.countries',
    'copy shared.countries to stdout',
    'copy (select * from countries) to stdout',
    'lock table shared.countries in access share mode',
    "select nextval('tenant_a.ids')",
    "select nextval('ids')",
    "select currval('shared.ids')",
    "select pg_relation_size('shared.countries')",
    'create temp table countries (code text) on commit drop',
    'explain select * from shared.countries',
  ])('still allows reading shared tables: %s', (sql) => {
    expect(() => check(sql)).not.toThrow()
  })

  it.each([
    'create table orders2 (id int primary key, note text)',
    'create index on orders (owner)',
    'alter table orders add column note text',
    'drop table orders',
    'truncate orders',
    "comment on table orders is 'x'",
    'grant select on orders to bob',
    'alter table orders rename to orders_old',
    'alter table tenant_a.orders set schema tenant_a',
    "insert into orders values (3, 'a')",
    'with d as (delete from orders returning *) select * from d',
    'create schema tenant_a',
    "create type mood as enum ('a')",
  ])("keeps the tenant's own DDL and DML as they were: %s", (sql) => {
    let before: unknown
    try {
      guardAnalyzed(analyzeStatement(sql), 'tenant_a', shared)
    } catch (err) {
      before = err
    }
    let after: unknown
    try {
      check(sql)
    } catch (err) {
      after = err
    }
    // Whatever the guard said before sharedTables and sharedWrites existed, it still says.
    expect(String(after)).toBe(String(before))
  })

  it.each([
    ['create view v as select * from shared.countries', 'CREATE VIEW v reading', 'shared.countries'],
    ['create or replace view v as select * from countries', 'CREATE VIEW v reading', 'countries (shared table shared.countries)'],
    ['create view v as with c as (select * from shared.countries) select * from c', 'CREATE VIEW v reading', 'shared.countries'],
    ['create view v as select * from (select code from shared.countries) s', 'CREATE VIEW v reading', 'shared.countries'],
    ['create view v as select o.* from orders o where o.owner in (select code from countries)', 'CREATE VIEW v reading', 'countries (shared table shared.countries)'],
  ])('refuses %s by default (writes through the view land in the shared table), and allows it with sharedWrites', (sql, kind, object) => {
    const err = refusal(sql)
    expect(err.message).toContain(`${kind} ${object} would let rows be written into shared schema 'shared' through the view`)
    expect(err.message).toMatch(/create such views in a migration/)
    expect(() => check(sql, { sharedWrites: true })).not.toThrow()
  })

  it.each([
    ['lock table shared.countries', 'shared.countries IN ACCESS EXCLUSIVE MODE'],
    ['lock table countries in share mode', 'countries IN SHARE MODE (shared table shared.countries)'],
    ['lock table orders, shared.countries in share update exclusive mode', 'shared.countries IN SHARE UPDATE EXCLUSIVE MODE'],
    ['lock shared.countries in exclusive mode nowait', 'shared.countries IN EXCLUSIVE MODE'],
  ])('refuses %s, always: a strong lock on a shared table stalls every tenant', (sql, object) => {
    for (const sharedWrites of [false, true]) expect(refusal(sql, { sharedWrites }).message).toContain(`LOCK TABLE ${object} would lock a table in shared schema 'shared'`)
  })

  it.each(['lock table shared.countries in row exclusive mode', 'lock table countries in row share mode', 'lock table orders in access exclusive mode'])('allows %s', (sql) => {
    expect(() => check(sql)).not.toThrow()
  })

  it.each([
    ["comment on constraint pos on domain shared.code is 'x'", 'COMMENT ON CONSTRAINT shared.code.pos'],
    ['alter domain shared.code rename constraint pos to p2', 'ALTER DOMAIN ... RENAME CONSTRAINT shared.code'],
  ])('refuses %s: a domain constraint changes its domain', (sql, what) => {
    expect(refusal(sql).message).toContain(`${what} would change shared schema 'shared'`)
  })

  it('records an unqualified composite type, a domain constraint and a setval() target as changes, so the router pins them', () => {
    expect(analyzeStatement('alter type comp add attribute b int').changes).toEqual([{ change: 'structure', statement: 'ALTER TYPE', object: 'comp', table: 'comp' }])
    expect(analyzeStatement('alter type comp rename attribute a to b').changes).toEqual([{ change: 'structure', statement: 'ALTER TYPE ... RENAME', object: 'comp', table: 'comp' }])
    expect(analyzeStatement("comment on constraint pos on domain code is 'x'").changes).toEqual([{ change: 'structure', statement: 'COMMENT ON CONSTRAINT', object: 'code.pos' }])
    expect(analyzeStatement("select setval('ids', 1)").changes).toEqual([{ change: 'rows', statement: 'setval() on', object: 'ids', table: 'ids' }])
    expect(analyzeStatement("select nextval('ids')").changes).toEqual([{ change: 'rows', statement: 'nextval() on', object: 'ids', table: 'ids' }])
    expect(analyzeStatement('select * from countries c for update').changes).toEqual([{ change: 'rows', statement: 'SELECT ... FOR UPDATE (row locks) on', object: 'countries', table: 'countries' }])
    // Pinned: under the transaction strategy the locked relation is qualified, never found in a shared schema through the path.
    expect(analyzeStatement('select * from countries c for update').slots).toEqual([{ index: 14, table: 'countries', pinned: true }])
    expect(analyzeStatement('select * from countries c for share').slots).toEqual([{ index: 14, table: 'countries' }])
    expect(q('alter type comp add attribute b int')).toBe('alter type "tenant_a".comp add attribute b int')
  })

  it('fails closed on an object name whose shape it cannot read, instead of recording nothing', () => {
    const read = (type: string, body: Record<string, unknown>) => {
      const out = new ChangeCollector()
      statementChanges(type, body, out)
      return out
    }
    // A name shape no statement produces today (a later PostgreSQL might): nothing to check, so refused.
    const odd = read('CommentStmt', { objtype: 'OBJECT_DOMCONSTRAINT', object: { List: { items: [{ Integer: { ival: 1 } }, { String: { sval: 'pos' } }] } } })
    expect(odd.changes).toEqual([])
    expect(odd.unreadable).toMatch(/could not be read/)
    expect(read('DropStmt', { removeType: 'OBJECT_TABLE', objects: [{ Float: { fval: '1' } }] }).unreadable).toMatch(/DROP TABLE/)
    // Every shape real statements have is read.
    for (const sql of ["comment on constraint pos on domain d is 'x'", 'alter domain d rename constraint a to b', 'drop operator class c using btree', 'alter schema tenant_a owner to bob']) {
      expect(analyzeStatement(sql).refused, sql).toBeUndefined()
    }
  })

  it.each(['drop trigger t on shared.countries', 'drop trigger t on countries', 'drop policy p on shared.countries', "comment on constraint k on shared.countries is 'x'"])(
    'refuses %s (a table member: it changes its table)',
    (sql) => {
      for (const sharedWrites of [false, true]) expect(() => check(sql, { sharedWrites })).toThrow(TenantIsolationError)
    },
  )

  it('a context whose own schema is the shared one may change it (the decision is about other schemas)', () => {
    expect(() => check('drop table shared.countries', { schema: 'shared' })).not.toThrow()
    expect(() => check('truncate countries', { schema: 'shared' })).not.toThrow()
  })

  it('records changes without disturbing the rest of the analysis', () => {
    expect(analyzeStatement("select nextval('shared.ids'), setval('tenant_a.ids', 1)").unqualifiable).toBeUndefined()
    // An unqualified setval() target is pinned inside its literal; a literal the splice cannot read goes to the search path.
    expect(q("select setval('ids', 1)")).toBe(`select setval('"tenant_a".ids', 1)`)
    expect(analyzeStatement("select setval(E'ids', 1)").unqualifiable).toMatch(/not a plain string literal/)
    expect(analyzeStatement("select setval('ids'::regclass, 1)").unqualifiable).toMatch(/search path/)
    expect(analyzeStatement('select * from shared.countries').changes).toBeUndefined()
    expect(analyzeStatement('with gone as (delete from countries returning *) select * from gone').changes).toEqual([{ change: 'rows', statement: 'DELETE FROM', object: 'countries', table: 'countries' }])
    expect(analyzeStatement('alter table orders set schema shared').changes).toEqual([
      { change: 'structure', statement: 'ALTER TABLE', object: 'orders SET SCHEMA shared', table: 'orders' },
      { change: 'structure', statement: 'ALTER TABLE', object: 'orders SET SCHEMA shared', schema: 'shared' },
    ])
  })

  it('a sharedTables schema counts as shared even when the caller leaves it out of `shared`', () => {
    expect(() => guardAnalyzed(analyzeStatement('drop table countries'), 'tenant_a', new Set(), { sharedTables: { countries: 'geo' } })).toThrow(/shared schema 'geo'/)
    expect(() => guardAnalyzed(analyzeStatement('insert into countries values (1)'), 'tenant_a', new Set(), { sharedTables: { countries: 'geo' } })).toThrow(TenantIsolationError)
  })

  it('the qualify path would have sent these to the shared schema: that is what the guard stops', () => {
    expect(q('truncate countries', 'tenant_a', sharedTables)).toBe('truncate "shared".countries')
    expect(q('with gone as (delete from countries returning *) select * from gone', 'tenant_a', sharedTables)).toBe(
      'with gone as (delete from "shared".countries returning *) select * from gone',
    )
  })
})
