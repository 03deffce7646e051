import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeStatement, ensureParser, guardAnalyzed, localSearchPath, qualifyAnalyzed, SchemaRouter, TenantIsolationError, type EnginePool } from '../../src/index.js'
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

  it.each([
    ['alter function f() set search_path = tenant_b', /cannot be checked.*ALTER FUNCTION \.\.\. SET search_path/],
    ['alter function tenant_a.f(int) set search_path to tenant_b, public', /ALTER FUNCTION \.\.\. SET search_path/],
    ['alter function f() set search_path from current', /ALTER FUNCTION \.\.\. SET search_path/],
    ['alter procedure p() set search_path = tenant_b', /ALTER PROCEDURE \.\.\. SET search_path/],
    ['alter routine r() set search_path = tenant_b', /ALTER ROUTINE \.\.\. SET search_path/],
    ['alter function f() set work_mem = 1', /ALTER FUNCTION \.\.\. SET work_mem/],
    ['alter function f() reset search_path', /ALTER FUNCTION \.\.\. RESET search_path/],
    ['alter procedure p() reset all', /ALTER PROCEDURE \.\.\. RESET ALL/],
    ['alter function f() security definer', /ALTER FUNCTION \.\.\. SECURITY DEFINER/],
    ['alter function f() external security definer', /SECURITY DEFINER/],
    ['alter function f() stable security definer', /SECURITY DEFINER/],
    ['alter function f() support tenant_b.planner_support', /ALTER FUNCTION \.\.\. SUPPORT/],
  ])('refuses ALTER FUNCTION actions that change how an unread body runs: %s', (sql, message) => {
    expect(() => guard(sql)).toThrow(TenantIsolationError)
    expect(() => guard(sql)).toThrow(message)
  })

  it.each(['alter function f() stable', 'alter function f() security invoker', 'alter function f() cost 5', 'alter function f() rename to g', 'alter function f() owner to bob', 'alter procedure p() set schema tenant_a'])(
    'allows the other ALTER FUNCTION actions: %s',
    (sql) => {
      expect(() => guard(sql)).not.toThrow()
    },
  )
})

describe('guard: functions that run SQL, dump relations or take object names as text', () => {
  it.each([
    "select query_to_xml('select * from tenant_b.orders', true, false, '')",
    "select query_to_xmlschema('select 1', true, false, '')",
    "select query_to_xml_and_xmlschema('select * from orders', true, false, '')",
    // Implicit regclass: no TypeCast node, the text names another tenant's table.
    "select table_to_xml('tenant_b.orders', true, false, '')",
    "select table_to_xmlschema('orders', true, false, '')",
    "select table_to_xml_and_xmlschema('orders', true, false, '')",
    "select cursor_to_xml('c', 10, true, false, '')",
    "select schema_to_xml('tenant_b', true, false, '')",
    "select database_to_xml(true, false, '')",
    "select * from dblink('dbname=app', 'select * from tenant_b.orders') as t(id int)",
    "select dblink_exec('dbname=app', 'drop schema tenant_b cascade')",
    "select ts_stat('select body from tenant_b.docs')",
    "select * from crosstab('select * from tenant_b.orders') as t(a int)",
    "select pg_read_file('/etc/passwd')",
    "select lo_get(16400)",
    "select * from pg_ls_dir('.')",
    "select pg_terminate_backend(123)",
    'select * from pg_stat_get_activity(null)',
    // Non-literal object names: could name any tenant's table or sequence.
    "select to_regclass('tenant_' || 'b.orders')",
    'select nextval($1)',
    "select setval(16400, 1)",
    "select currval(('tenant_' || 'b.seq')::regclass)",
    "select pg_relation_size(concat('tenant_b', '.orders'))",
    // Literal object names in another schema, wherever the name argument sits.
    "select has_table_privilege('bob', 'tenant_b.orders', 'select')",
    "select has_schema_privilege('tenant_b', 'usage')",
    "select to_regnamespace('tenant_b')",
    "select 'tenant_b'::regnamespace",
    "select pg_total_relation_size('tenant_b.orders')",
    "select nextval('tenant_b.orders_id_seq')",
    "select pg_get_serial_sequence('tenant_b.orders', 'id')",
    // pg_get_viewdef takes a view's name as text, or an oid from any expression.
    "select pg_get_viewdef('tenant_b.v')",
    "select pg_get_viewdef(('tenant_b.v' collate \"C\")::regclass)",
    "select pg_get_viewdef(regclass('tenant_b.v'), true)",
    // The connection's last sequence value, whoever's statement took it.
    'select lastval()',
    'select pg_catalog.lastval() + 1',
  ])('refuses %s', (sql) => {
    expect(() => guard(sql)).toThrow(TenantIsolationError)
  })

  it.each([
    "select nextval('tenant_a.orders_id_seq')",
    "select setval('orders_id_seq', $1)",
    "select has_table_privilege('bob', 'tenant_a.orders', 'select')",
    "select has_table_privilege('orders', 'select')",
    "select pg_relation_size('shared.countries')",
    "select has_schema_privilege('tenant_a', 'usage')",
    "select 'shared'::regnamespace",
    "select current_setting('work_mem')",
    'select pg_advisory_xact_lock(1)',
    "select lower('tenant_b.orders')",
    'select c.oid::regclass from pg_catalog.pg_class c',
    "select pg_get_viewdef('tenant_a.v')",
    "select currval('tenant_a.orders_id_seq')",
  ])('allows %s', (sql) => {
    expect(() => guard(sql)).not.toThrow()
  })
})

describe('guard: transaction control and several statements in one text', () => {
  it.each(['commit; select * from orders', 'rollback; delete from orders', 'begin', 'commit', 'savepoint s', 'rollback to savepoint s', 'release s', "prepare transaction 'x'"])(
    'refuses %s',
    (sql) => {
      expect(() => guard(sql)).toThrow(TenantIsolationError)
    },
  )

  it('refuses any multi-statement text, even when each statement alone would pass', () => {
    expect(() => guard('select * from orders; select * from orders')).toThrow(/2 statements/)
    expect(() => guard('commit; select * from orders')).toThrow(/statements|transaction control/)
  })
})

describe('guard: session state that would outlive the statement on a pooled connection', () => {
  it.each([
    'create temp table orders (id int)',
    'create temporary table scratch as select * from orders',
    'select * into temp scratch from orders',
    'create temp view v as select * from orders',
    'create temp sequence s',
    'declare c cursor with hold for select * from orders',
    'prepare p as select * from orders',
    'deallocate all',
    'listen orders_changed',
    'unlisten *',
    "load 'auto_explain'",
    'alter role current_user set search_path = tenant_b',
    'alter database postgres set search_path = tenant_b',
    'alter system set work_mem = 1',
    'set role postgres',
    'set local role postgres',
    'set session authorization postgres',
    'set statement_timeout = 0',
    "set time zone 'UTC'",
    'set session characteristics as transaction read only',
    'reset all',
    'reset work_mem',
    'discard all',
    'discard temp',
    "select set_config('work_mem', '1MB', false)",
    "select set_config('search_path', 'tenant_b', true)",
  ])('refuses %s', (sql) => {
    expect(() => guard(sql)).toThrow(TenantIsolationError)
  })

  it.each([
    'select pg_advisory_lock(1)',
    'select pg_advisory_lock_shared(1, 2)',
    'select pg_try_advisory_lock(1)',
    'select pg_try_advisory_lock_shared(1)',
    'select pg_advisory_unlock(1)',
    'select pg_advisory_unlock_shared(1, 2)',
    'select pg_advisory_unlock_all()',
    'select pg_catalog.pg_advisory_lock(id) from orders',
    'select * from orders where pg_try_advisory_lock(id)',
  ])('refuses the session-level advisory lock in %s: the lock stays with the pooled connection', (sql) => {
    expect(() => guard(sql)).toThrow(/session state \(session-level advisory lock pg_\w+\(\).*pooled connection/)
  })

  it.each(['select pg_advisory_xact_lock(1)', 'select pg_advisory_xact_lock_shared(1, 2)', 'select pg_try_advisory_xact_lock(1)', 'select pg_try_advisory_xact_lock_shared(1)'])(
    'allows the transaction-level advisory lock in %s: it ends with the transaction',
    (sql) => {
      expect(() => guard(sql)).not.toThrow()
    },
  )

  it.each([
    'create temp table scratch (id int) on commit drop',
    'set local statement_timeout = 1000',
    'set transaction isolation level serializable',
    'declare c cursor for select * from orders',
    'fetch 10 from c',
    'close c',
    'show search_path',
    "select set_config('statement_timeout', '1s', true)",
  ])('allows %s', (sql) => {
    expect(() => guard(sql)).not.toThrow()
  })

  it('refuses EXECUTE (a prepared statement the guard never saw) and statements not confined to a schema', () => {
    expect(() => guard('execute p')).toThrow(/cannot be checked/)
    expect(() => guard('create role intruder')).toThrow(/not allowed in a schema-routed statement/)
    expect(() => guard('drop owned by current_user')).toThrow(TenantIsolationError)
    expect(() => guard("copy orders to '/tmp/orders.csv'")).toThrow(/server file or program/)
    expect(() => guard("copy orders from program 'cat /etc/passwd'")).toThrow(/server file or program/)
    expect(() => guard('copy orders to stdout')).not.toThrow()
    for (const sql of ['drop extension dblink', 'create extension dblink', 'comment on database app is $$x$$', 'grant create on database app to public', 'alter database app owner to bob', 'drop event trigger t', 'alter extension dblink set schema tenant_a', 'create schema authorization bob']) {
      expect(() => guard(sql), sql).toThrow(TenantIsolationError)
    }
    for (const sql of ['drop table orders', 'comment on table orders is $$x$$', 'grant select on orders to bob', 'alter table orders owner to bob', 'alter table orders rename to orders_old']) {
      expect(() => guard(sql), sql).not.toThrow()
    }
  })

  it('builds the local search path as the tenant, pg_catalog, the shared schemas, then pg_temp last', () => {
    // pg_catalog before the shared schemas: nothing in them can shadow a built-in for every tenant.
    expect(localSearchPath(['tenant_a', 'shared'])).toBe('"tenant_a", pg_catalog, "shared", pg_temp')
    expect(localSearchPath(['tenant_a', 'shared', 'geo'])).toBe('"tenant_a", pg_catalog, "shared", "geo", pg_temp')
    expect(localSearchPath(['tenant_a'])).toBe('"tenant_a", pg_catalog, pg_temp')
    expect(() => localSearchPath(['tenant_a', 'shared", public, "x'])).toThrow(/Invalid schema name/)
    expect(() => localSearchPath(['tenant_a", public, "x'])).toThrow(/Invalid schema name/)
    expect(() => localSearchPath([])).toThrow(/names no schema/)
  })
})

describe('guard: catalogs that hold other tenants data', () => {
  it.each([
    'select * from pg_stats',
    "select most_common_vals from pg_catalog.pg_stats where tablename = 'orders'",
    'select * from pg_catalog.pg_statistic',
    'select * from pg_stats_ext',
    'select query from pg_stat_activity',
    'select * from pg_catalog.pg_locks',
    'select query from pg_stat_statements',
    'select * from pg_largeobject',
    'select * from pg_user_mappings',
    'select * from orders where exists (select 1 from pg_stats)',
    'select sequencename, last_value from pg_sequences',
    'select last_value from pg_catalog.pg_sequences',
    'select n_live_tup from pg_stat_user_tables',
    'select * from pg_catalog.pg_stat_all_tables',
    'select idx_scan from pg_stat_user_indexes',
    'select tup_inserted from pg_stat_database',
    'select heap_blks_read from pg_statio_user_tables',
    'select * from pg_catalog.pg_statio_all_sequences',
  ])('refuses %s', (sql) => {
    expect(() => guard(sql)).toThrow(/other tenants' data/)
  })

  it('keeps the metadata catalogs readable, and pins unqualified ones to pg_catalog', () => {
    expect(() => guard('select relname from pg_catalog.pg_class')).not.toThrow()
    const sql = 'select relname from pg_class join orders on true'
    expect(qualifyAnalyzed(sql, analyzeStatement(sql), 'tenant_a')).toBe('select relname from "pg_catalog".pg_class join "tenant_a".orders on true')
  })
})

describe('guard: writes into the catalogs', () => {
  it.each([
    // pg_settings' UPDATE rule calls set_config(name, value, false): a session-level search_path or role.
    ["update pg_settings set setting = 'tenant_b' where name = 'search_path'", /session state.*pg_settings/],
    ["update pg_catalog.pg_settings set setting = 'postgres' where name = 'role'", /session state.*pg_settings/],
    ["with s as (update pg_settings set setting = 'tenant_b' where name = 'search_path' returning 1) select * from s", /session state.*pg_settings/],
    ["update app.pg_catalog.pg_settings set setting = 'tenant_b' where name = 'search_path'", /session state/],
    ['copy pg_settings from stdin', /session state.*pg_settings/],
    ["insert into information_schema.sql_features values ('x', 'y', 'z', 'w', 'YES', null, null)", /catalog relation.*every tenant shares/],
    ["delete from pg_catalog.pg_description where objoid = 0", /catalog relation/],
    ['delete from pg_description', /catalog relation/],
    ["merge into information_schema.sql_parts p using orders o on false when not matched then insert values ('x', 'y', 'YES', null, null)", /catalog relation/],
    ['copy information_schema.sql_features from stdin', /catalog relation/],
    ['truncate information_schema.sql_features', /catalog relation/],
    ['create table information_schema.mailbox (note text)', /catalog relation/],
    ['select * into information_schema.mailbox from orders', /catalog relation/],
    ['create view information_schema.mailbox as select * from orders', /catalog relation/],
    ["create type information_schema.mood as enum ('a')", /information_schema/],
    ['drop table information_schema.sql_features', /information_schema/],
    ["comment on table pg_catalog.pg_class is 'x'", /pg_catalog/],
    ['grant select on pg_catalog.pg_class to public', /pg_catalog/],
    ['alter table orders set schema information_schema', /catalog schema/],
    ["comment on column pg_catalog.pg_class.relname is 'x'", /pg_catalog/],
    ['alter function pg_catalog.now() stable', /pg_catalog/],
    ['alter function pg_catalog.now() owner to bob', /pg_catalog/],
    ["alter type information_schema.mood add value 'x'", /information_schema/],
    ['alter table pg_catalog.pg_class add column x int', /catalog relation/],
    ['create index on pg_catalog.pg_class (relname)', /catalog relation/],
    // A simple view is auto-updatable: UPDATE on it would run pg_settings' rule, or write the catalog table.
    ['create view v as select name, setting from pg_settings', /view reading catalog relation pg_catalog.pg_settings/],
    ['create view v as select * from pg_catalog.pg_settings', /view reading catalog relation/],
    ['create or replace view v as select * from information_schema.sql_features', /view reading catalog relation/],
    ['create view v as select o.id from orders o join pg_class c on c.oid = o.id', /view reading catalog relation/],
  ])('refuses %s', (sql, message) => {
    expect(() => guard(sql)).toThrow(TenantIsolationError)
    expect(() => guard(sql)).toThrow(message)
  })

  it.each([
    'select setting from pg_settings where name = $1',
    "select setting from pg_catalog.pg_settings where name = 'search_path'",
    'insert into orders select oid::int from pg_catalog.pg_class limit 1',
    'copy pg_settings to stdout',
    'create table t (id int, n pg_catalog.int4)',
    'drop function f(pg_catalog.int4)',
    "update orders set note = (select setting from pg_settings where name = 'work_mem')",
    "comment on column orders.id is 'x'",
    'alter function tenant_a.f(pg_catalog.int4) stable',
    'grant execute on function f(pg_catalog.text) to bob',
    'create view v as select * from orders',
    'create view v as with pg_class as (select 1 as oid) select * from pg_class',
  ])('still allows reading them: %s', (sql) => {
    expect(() => guard(sql)).not.toThrow()
  })
})

describe('guard: statements that act on the whole database', () => {
  it.each([
    ['vacuum', /VACUUM without a table list/],
    ['vacuum full', /VACUUM without a table list/],
    ['vacuum (analyze, verbose)', /VACUUM without a table list/],
    ['analyze', /ANALYZE without a table list/],
    ['cluster', /CLUSTER without a table/],
    ['reindex database', /REINDEX DATABASE/],
    ['reindex database app', /REINDEX DATABASE/],
    ['reindex system', /REINDEX SYSTEM/],
    ['reindex schema tenant_b', /schema 'tenant_b'/],
    ['reindex schema shared', /schema 'shared' as a whole/],
    ['reindex schema pg_catalog', /as a whole/],
    ['vacuum tenant_b.orders', /tenant_b/],
    ['analyze orders, tenant_b.orders', /tenant_b/],
    ['cluster tenant_b.orders using orders_pkey', /tenant_b/],
    ['reindex table tenant_b.orders', /tenant_b/],
    ['reindex index tenant_b.orders_pkey', /tenant_b/],
    ["notify orders_changed, 'x'", /NotifyStmt is not allowed/],
    ["select pg_notify('tenant_b_events', 'hello')", /pg_notify\(\) sends to a database-wide channel/],
    ["select pg_catalog.pg_notify('c', 'x') from orders", /pg_notify/],
    ['drop schema shared cascade', /schema 'shared' as a whole/],
    ['grant select on all tables in schema shared to public', /schema 'shared' as a whole/],
    ["comment on schema shared is 'x'", /as a whole/],
    ['alter schema shared rename to tenant_a', /as a whole/],
    ['drop schema information_schema cascade', /as a whole/],
  ])('refuses %s', (sql, message) => {
    expect(() => guard(sql)).toThrow(TenantIsolationError)
    expect(() => guard(sql)).toThrow(message)
  })

  it.each([
    'vacuum orders',
    'vacuum full orders',
    'vacuum (analyze) tenant_a.orders',
    'analyze orders (id)',
    'cluster orders using orders_pkey',
    'reindex table orders',
    'reindex index orders_pkey',
    'reindex schema tenant_a',
    "comment on schema tenant_a is 'mine'",
    'grant select on all tables in schema tenant_a to public',
    'select * from shared.countries',
  ])('allows %s', (sql) => {
    expect(() => guard(sql)).not.toThrow()
  })
})

describe('guard: operators and three-part names', () => {
  it.each([
    'select 1 operator(tenant_b.+) 2',
    'select * from orders order by id using operator(tenant_b.<)',
    'select 1 where 2 operator(tenant_b.=) any (select id from orders)',
    'select * from app.tenant_b.orders',
    "select note collate tenant_b.german from orders",
    'create index on orders (note tenant_b.text_ops)',
    'select * from orders tablesample tenant_b.sampler (10)',
    'create table t of tenant_b.mytype',
    'create table t (c int4range, exclude using gist (c with operator(tenant_b.&&)))',
    'create table t (c int4range, exclude using gist (c with tenant_b.&&))',
    'alter table orders add exclude using gist (c with =, d with operator(tenant_b.&&))',
  ])(
    'refuses %s',
    (sql) => {
      expect(() => guard(sql)).toThrow(TenantIsolationError)
    },
  )

  it.each(['select 1 operator(pg_catalog.+) 2', 'select note collate pg_catalog."C" from orders', 'select * from orders tablesample system (10)', 'select * from app.tenant_a.orders', 'select app.tenant_a.orders.id from app.tenant_a.orders', 'select app.shared.f()', 'select 1::app.tenant_a.mood', 'create table t of tenant_a.mytype', 'create table t (c int4range, exclude using gist (c with operator(pg_catalog.&&)))', 'create table t (c int4range, exclude using gist (c with &&))'])(
    'allows %s (the catalog part is the database, not a schema)',
    (sql) => {
      expect(() => guard(sql)).not.toThrow()
    },
  )
})

describe('qualify: names the qualifier cannot pin send the statement to the local search path', () => {
  it.each([
    ["select 'happy'::mood", /type mood/],
    ['select calc_total(id) from orders', /function calc_total/],
    ['create table t (m mood)', /type mood/],
    ['create table t of mytype', /type mytype/],
    ["select 'f(int)'::regprocedure", /regprocedure/],
  ])('%s', (sql, reason) => {
    const a = analyzeStatement(sql)
    expect(a.searchPathDependent).toMatch(reason)
  })

  it.each([
    "select count(*), now(), coalesce(max(id), 0), lower(note)::text, '1'::int4, '2024-01-01'::timestamptz, jsonb_build_object('a', 1) from orders",
    'select id, row_number() over (order by id), string_agg(note, $1) from orders group by id',
    'create table t (id serial primary key, at timestamptz default now(), data jsonb, n numeric(10, 2), u uuid default gen_random_uuid())',
    'select * from generate_series(1, 3) g join orders on orders.id = g',
    'select tenant_a.calc_total(id), 1::tenant_a.mood from orders',
  ])('built-ins and qualified names stay on the fast path: %s', (sql) => {
    const a = analyzeStatement(sql)
    expect(a.searchPathDependent).toBeUndefined()
    expect(a.unqualifiable).toBeUndefined()
  })
})

describe('the rewrite cache is one bounded LRU over (schema, statement)', () => {
  it('holds at most rewriteCacheSize rewrites in total, and one analysis per text', async () => {
    const router = new SchemaRouter({ rewriteCacheSize: 3, cacheSize: 2 })
    for (let i = 0; i < 10; i++) expect(await router.prepare('select * from orders', `tenant_${i}`)).toBe(`select * from "tenant_${i}".orders`)
    expect(router.cacheSizes).toEqual({ analyses: 1, rewrites: 3 })
    // Two analyses at most: the older texts are evicted with their rewrites.
    for (const sql of ['select 1 from a', 'select 1 from b', 'select 1 from c']) await router.prepare(sql, 'tenant_0')
    expect(router.cacheSizes).toEqual({ analyses: 2, rewrites: 2 })
    // A refused statement is never cached, so it is refused again next time.
    await expect(router.prepare('select * from tenant_b.orders', 'tenant_a')).rejects.toBeInstanceOf(TenantIsolationError)
    await expect(router.prepare('select * from tenant_b.orders', 'tenant_a')).rejects.toBeInstanceOf(TenantIsolationError)
    await expect(router.prepare('select * from orders', 'tenant_b; drop schema x')).rejects.toMatchObject({ code: 'INVALID_SCHEMA_NAME' })
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
    await pool.query(`create schema shared; create table shared.countries (code text primary key, name text not null); insert into shared.countries values ('fr', 'France')`)
    // Same-named types and functions in public and in the tenant's schema: resolving through the
    // connection's default path would pick public's.
    await pool.query(`create type public.mood as enum ('public_mood'); create type tenant_a.mood as enum ('a_mood')`)
    await pool.query(`create function public.whoami() returns text language sql as $$ select 'public' $$`)
    await pool.query(`create function tenant_a.whoami() returns text language sql as $$ select 'tenant_a' $$`)
    await pool.query(`create function shared.motto() returns text language sql as $$ select 'shared' $$`)
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

  it('transaction control cannot end the tenant transaction and reach public: `commit; select ...` is refused', async () => {
    for (const strategy of ['qualify', 'transaction'] as const) {
      for (const sql of ['commit; select * from orders', 'rollback; delete from orders', 'select 1; select * from orders', 'commit']) {
        const outcome = await router.run<{ owner: string }>(pool, sql, [], 'tenant_a', { strategy }).then(
          (r) => r.rows.map((row) => row.owner).join(','),
          (e: unknown) => e,
        )
        expect(outcome).toBeInstanceOf(TenantIsolationError)
      }
    }
    expect((await pool.query('select count(*)::int as n from public.orders')).rows).toEqual([{ n: 2 }])
  })

  it("a temporary table left on a pooled connection never shadows the tenant's table, and routed code cannot create one", async () => {
    const one = postgres({ connectionString: db.connectionString, max: 1 }).createPool()
    try {
      // Unrouted code leaves a session-level temporary table on the only connection.
      await one.query(`create temp table orders (id int, owner text); insert into orders values (1, 'TEMP'), (2, 'TEMP')`)
      for (const strategy of ['qualify', 'transaction'] as const) {
        const { rows } = await router.run<{ owner: string }>(one, 'select owner from orders order by id', [], 'tenant_a', { strategy })
        expect(rows.map((r) => r.owner)).toEqual(['tenant_a', 'tenant_a'])
        await expect(router.run(one, 'create temp table orders (id int)', [], 'tenant_b', { strategy })).rejects.toThrow(/temporary object orders/)
        await expect(router.run(one, 'select * from pg_temp.orders', [], 'tenant_b', { strategy })).rejects.toBeInstanceOf(TenantIsolationError)
      }
      // A transaction-scoped one is fine: it is gone at commit.
      await router.run(one, 'create temp table scratch (id int) on commit drop', [], 'tenant_a', { strategy: 'transaction' })
      expect((await one.query(`select count(*)::int as n from pg_class where relname = 'scratch'`)).rows).toEqual([{ n: 0 }])
    } finally {
      await one.close()
    }
  })

  it('the transaction strategy finds shared tables and functions through the local search path', async () => {
    const viaPath = new SchemaRouter({ strategy: 'transaction', shared: ['shared'] })
    const { rows } = await viaPath.run<{ owner: string; name: string; motto: string }>(
      pool,
      'select o.owner, c.name, motto() as motto from orders o join countries c on c.code = $1 where o.id = 1',
      ['fr'],
      'tenant_a',
    )
    expect(rows).toEqual([{ owner: 'tenant_a', name: 'France', motto: 'shared' }])
    // Under qualify, shared tables are named in sharedTables.
    const qualify = new SchemaRouter({ shared: ['shared'], sharedTables: { countries: 'shared' } })
    const q = await qualify.run<{ name: string }>(pool, 'select name from countries', [], 'tenant_b')
    expect(q.rows).toEqual([{ name: 'France' }])
  })

  it("objects created through the local search path land in the tenant's schema", async () => {
    await router.run(pool, 'create table notes (id int)', [], 'tenant_a', { strategy: 'transaction' })
    await router.run(pool, "create type tenant_level as enum ('gold')", [], 'tenant_a')
    const { rows } = await pool.query<{ nspname: string }>(
      `select n.nspname from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relname = 'notes'
       union all select n.nspname from pg_type t join pg_namespace n on n.oid = t.typnamespace where t.typname = 'tenant_level'`,
    )
    expect(rows).toEqual([{ nspname: 'tenant_a' }, { nspname: 'tenant_a' }])
  })

  it("under qualify, user types and functions resolve in the tenant's schema, not public", async () => {
    for (const strategy of ['qualify', 'transaction'] as const) {
      const { rows } = await router.run<{ w: string; m: string }>(pool, "select whoami() as w, 'a_mood'::mood::text as m from orders where id = 1", [], 'tenant_a', { strategy })
      expect(rows).toEqual([{ w: 'tenant_a', m: 'a_mood' }])
    }
  })

  it('refuses data-leaking catalogs and SQL-running functions against the real server', async () => {
    for (const sql of ['select * from pg_stats', 'select query from pg_stat_activity', 'select n_live_tup from pg_stat_user_tables', 'select last_value from pg_sequences', "select query_to_xml('select * from tenant_b.orders', true, false, '')", "select table_to_xml('tenant_b.orders', true, false, '')"]) {
      await expect(router.run(pool, sql, [], 'tenant_a')).rejects.toBeInstanceOf(TenantIsolationError)
    }
    // Unqualified catalog relations are pinned to pg_catalog, whatever the tenant has.
    const { rows } = await router.run<{ n: number }>(pool, "select count(*)::int as n from pg_namespace where nspname = 'tenant_a'", [], 'tenant_a')
    expect(rows).toEqual([{ n: 1 }])
  })

  it("update pg_settings (whose rule calls set_config(..., false)) never reaches the pooled connection: its search_path and role stay as they were", async () => {
    const one = postgres({ connectionString: db.connectionString, max: 1 }).createPool()
    try {
      const session = async () => (await one.query<{ path: string; role: string }>('select current_setting($1) as path, current_user as role', ['search_path'])).rows[0]
      const before = await session()
      expect(before?.path).not.toMatch(/tenant_b/)
      for (const strategy of ['qualify', 'transaction'] as const) {
        for (const sql of [
          "update pg_settings set setting = 'tenant_b' where name = 'search_path'",
          "update pg_catalog.pg_settings set setting = 'tenant_b' where name = 'search_path'",
          "with s as (update pg_settings set setting = 'tenant_b' where name = 'search_path' returning name) select * from s",
          "update pg_settings set setting = 'pg_read_server_files' where name = 'role'",
          // The same through a view: an auto-updatable view over pg_settings would run its rule too.
          'create view settings as select name, setting from pg_settings',
        ]) {
          await expect(router.run(one, sql, [], 'tenant_a', { strategy })).rejects.toBeInstanceOf(TenantIsolationError)
        }
      }
      // The only connection of the pool: had the rule run, its session would now search tenant_b.
      expect(await session()).toEqual(before)
      expect((await one.query(`select 1 from pg_class where relname = 'settings'`)).rows).toHaveLength(0)
      const { rows } = await one.query<{ owner: string }>('select owner from orders order by id')
      expect(rows.map((r) => r.owner)).toEqual(['public', 'public'])
    } finally {
      await one.close()
    }
  })

  it('database-wide maintenance and NOTIFY never reach the server; the tenant may still vacuum and reindex its own tables', async () => {
    for (const sql of ['vacuum', 'analyze', 'reindex schema tenant_b', 'reindex schema shared', "notify c, 'x'", "select pg_notify('c', 'x')"]) {
      await expect(router.run(pool, sql, [], 'tenant_a'), sql).rejects.toBeInstanceOf(TenantIsolationError)
    }
    await router.run(pool, 'analyze orders', [], 'tenant_a')
    await router.run(pool, 'reindex table orders', [], 'tenant_a')
    const { rows } = await pool.query<{ n: number }>(`select count(*)::int as n from pg_stat_user_tables where schemaname = 'tenant_a' and relname = 'orders' and last_analyze is not null`)
    expect(rows).toEqual([{ n: 1 }])
  })

  it('a SELECT INTO target named like a CTE creates the table in the tenant schema, never public', async () => {
    await router.run(pool, 'with orders_copy as (select * from orders) select * into orders_copy from orders_copy', [], 'tenant_a')
    const { rows } = await pool.query<{ nspname: string; n: number }>(
      `select n.nspname, (select count(*)::int from tenant_a.orders_copy) as n from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relname = 'orders_copy'`,
    )
    expect(rows).toEqual([{ nspname: 'tenant_a', n: 2 }])
  })

  it("a shared schema cannot shadow a built-in function or operator for every tenant: pg_catalog is searched before it", async () => {
    // CVE-2018-1058 across tenants: same signatures as pg_catalog.upper(text) and =(int4, int4).
    await pool.query(`create function shared.upper(text) returns text language sql as $$ select 'shadowed' $$`)
    await pool.query(`create function shared.always(int4, int4) returns boolean language sql as $$ select true $$`)
    await pool.query(`create operator shared.= (leftarg = int4, rightarg = int4, function = shared.always)`)
    try {
      const viaPath = new SchemaRouter({ strategy: 'transaction', shared: ['shared'] })
      const { rows } = await viaPath.run<{ u: string; eq: boolean; owner: string; motto: string }>(
        pool,
        "select upper('x') as u, 1 = 2 as eq, owner, motto() as motto from orders where id = 1",
        [],
        'tenant_a',
      )
      // The shared schema is still searched, after the built-ins.
      expect(rows).toEqual([{ u: 'X', eq: false, owner: 'tenant_a', motto: 'shared' }])
    } finally {
      await pool.query('drop operator shared.= (int4, int4); drop function shared.always(int4, int4); drop function shared.upper(text)')
    }
  })

  it('a session-level advisory lock never stays on a pooled connection', async () => {
    const one = postgres({ connectionString: db.connectionString, max: 1 }).createPool()
    try {
      for (const strategy of ['qualify', 'transaction'] as const) {
        for (const sql of ['select pg_advisory_lock(42)', 'select pg_try_advisory_lock_shared(42)', 'select pg_advisory_unlock_all()']) {
          await expect(router.run(one, sql, [], 'tenant_a', { strategy }), sql).rejects.toThrow(/advisory lock/)
        }
        await router.run(one, 'select pg_advisory_xact_lock(42)', [], 'tenant_a', { strategy })
      }
      const { rows } = await one.query<{ n: number }>(`select count(*)::int as n from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()`)
      expect(rows).toEqual([{ n: 0 }])
    } finally {
      await one.close()
    }
  })

  it("lastval() is refused: on a pooled connection it answers another tenant's new id", async () => {
    const one = postgres({ connectionString: db.connectionString, max: 1 }).createPool()
    try {
      await one.query('create sequence if not exists tenant_b.ids')
      for (const strategy of ['qualify', 'transaction'] as const) {
        const id = (await router.run<{ id: string }>(one, "select nextval('tenant_b.ids') as id", [], 'tenant_b', { strategy })).rows[0]!.id
        // Unguarded, the same connection hands tenant B's id to whoever asks next.
        expect((await one.query<{ id: string }>('select lastval() as id')).rows[0]!.id).toBe(id)
        await expect(router.run(one, 'select lastval()', [], 'tenant_a', { strategy })).rejects.toThrow(/lastval\(\) returns the last id/)
      }
    } finally {
      await one.close()
    }
  })

  it('a DML target shadowed by a CTE writes the tenant table, never public', async () => {
    await router.run(pool, 'with orders as (select 2 as id) delete from orders where id in (select id from orders)', [], 'tenant_a')
    expect((await pool.query('select id from tenant_a.orders')).rows).toEqual([{ id: 1 }])
    expect((await pool.query('select id from public.orders order by id')).rows).toEqual([{ id: 1 }, { id: 2 }])
  })
})

/** Everything a tenant could change in the shared schema: relations, columns, comments, privileges, children, types, functions, rows, sequence. */
const SHARED_SNAPSHOT = `
  select jsonb_build_object(
    'relations', (select jsonb_agg(jsonb_build_array(c.relname, c.relkind, c.relacl::text, c.reloptions, c.relrowsecurity, obj_description(c.oid, 'pg_class')) order by c.relname)
                  from pg_class c where c.relnamespace = 'shared'::regnamespace),
    'columns', (select jsonb_agg(jsonb_build_array(c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, col_description(c.oid, a.attnum)) order by c.relname, a.attnum)
                from pg_attribute a join pg_class c on c.oid = a.attrelid where c.relnamespace = 'shared'::regnamespace and a.attnum > 0 and not a.attisdropped),
    'children', (select jsonb_agg(i.inhrelid::regclass::text order by i.inhrelid::regclass::text) from pg_inherits i join pg_class p on p.oid = i.inhparent where p.relnamespace = 'shared'::regnamespace),
    'types', (select jsonb_agg(t.typname order by t.typname) from pg_type t where t.typnamespace = 'shared'::regnamespace),
    'labels', (select jsonb_agg(e.enumlabel order by e.enumsortorder) from pg_enum e join pg_type t on t.oid = e.enumtypid where t.typnamespace = 'shared'::regnamespace),
    'functions', (select jsonb_agg(p.proname || ':' || p.provolatile::text || ':' || coalesce(p.proacl::text, '') order by p.proname) from pg_proc p where p.pronamespace = 'shared'::regnamespace),
    'rows', (select jsonb_agg(jsonb_build_array(code, name) order by code) from shared.countries),
    'sequence', (select jsonb_build_array(last_value, is_called) from shared.ids)
  ) as snapshot`

describe.skipIf(!ok)('shared schemas cannot be changed from a tenant context, against a real database', () => {
  let db: TempDatabase
  let pool: EnginePool
  const sharedTables = { countries: 'shared' }
  const router = new SchemaRouter({ shared: ['shared'], sharedTables })
  const writer = new SchemaRouter({ shared: ['shared'], sharedTables, sharedWrites: true })
  const snapshot = async () => (await pool.query<{ snapshot: unknown }>(SHARED_SNAPSHOT)).rows[0]!.snapshot

  beforeAll(async () => {
    db = await createTempPgDatabase('sy_shared')
    pool = postgres({ connectionString: db.connectionString, max: 3 }).createPool()
    await pool.query(`create schema tenant_a; create table tenant_a.orders (id int primary key, owner text not null); insert into tenant_a.orders values (1, 'fr')`)
    await pool.query(`create schema shared; create table shared.countries (code text primary key, name text not null); insert into shared.countries values ('fr', 'France'), ('nz', 'New Zealand')`)
    await pool.query(`create index countries_name on shared.countries (name); create sequence shared.ids; select nextval('shared.ids')`)
    await pool.query(`create type shared.mood as enum ('ok'); create function shared.motto() returns text language sql stable as $$ select 'shared' $$`)
    await pool.query(`comment on table shared.countries is 'reference data'`)
  })

  afterAll(async () => {
    await pool?.close()
    await db?.drop()
  })

  // Each of these runs on PostgreSQL as written (checked unrouted in the last test) and would change the shared schema.
  const structure = [
    'drop table shared.countries',
    'drop table countries',
    'drop table if exists countries cascade',
    'truncate countries',
    'truncate shared.countries cascade',
    'alter table shared.countries add column x int',
    'alter table countries drop column name',
    'alter table shared.countries rename to gone',
    'alter table countries rename column name to label',
    'alter table orders set schema shared',
    'alter table shared.countries set schema tenant_a',
    'alter table shared.countries enable row level security',
    'create table shared.x (id int)',
    'create table countries (id int)',
    'create table shadow () inherits (shared.countries)',
    'create table shadow () inherits (countries)',
    'create table shared.stolen as select * from orders',
    'select * into shared.stolen from orders',
    'create view shared.v as select 1 as x',
    'create index on shared.countries (code, name)',
    'create index on countries (code, name)',
    'drop index shared.countries_name',
    "comment on table shared.countries is 'pwned'",
    "comment on column countries.name is 'pwned'",
    'grant all on shared.countries to public',
    'grant all on countries to public',
    'grant execute on function shared.motto() to public',
    "alter type shared.mood add value 'pwned'",
    'alter function shared.motto() volatile',
    'drop function shared.motto()',
    'alter sequence shared.ids restart with 100',
    'drop type shared.mood cascade',
    'create type shared.pair as (a int, b int)',
  ]
  const rows = [
    "insert into countries values ('de', 'Germany')",
    "insert into shared.countries values ('it', 'Italy')",
    "insert into countries values ('fr', 'Nope') on conflict (code) do update set name = excluded.name",
    "update countries set name = 'pwned'",
    "update shared.countries c set name = o.owner from orders o where o.owner = c.code",
    'delete from shared.countries',
    'delete from countries using orders o where o.owner = countries.code',
    'with gone as (delete from countries returning *) select * from gone',
    "with x as (update shared.countries set name = 'pwned' returning code) select count(*) from x",
    "with c as (select 'de' as code) insert into countries select code, 'Germany' from c",
    "merge into countries c using (select 'fr' as code) s on c.code = s.code when matched then delete",
    "select setval('shared.ids', 1000)",
  ]

  it('refuses DDL, TRUNCATE and DML on the shared schema under both strategies, and the shared schema is untouched', async () => {
    const before = await snapshot()
    for (const strategy of ['qualify', 'transaction'] as const) {
      for (const sql of [...structure, ...rows]) {
        const err = await router.run(pool, sql, [], 'tenant_a', { strategy }).catch((e: unknown) => e)
        expect(err, `${strategy}: ${sql}`).toBeInstanceOf(TenantIsolationError)
        expect((err as Error).message, sql).toMatch(structure.includes(sql) ? /migrations on an admin connection/ : /visible to every tenant/)
      }
    }
    expect(await snapshot()).toEqual(before)
    expect((await pool.query('select id, owner from tenant_a.orders')).rows).toEqual([{ id: 1, owner: 'fr' }])
  })

  it('every refused statement really runs on PostgreSQL when unrouted (so each refusal above is meaningful)', async () => {
    for (const sql of [...structure, ...rows]) {
      // search_path as the tenant's transaction strategy would set it; rolled back, so nothing sticks.
      const outcome = await pool
        .transaction(async (tx) => {
          await tx.query(`select set_config('search_path', 'tenant_a, pg_catalog, shared', true)`)
          await tx.query(sql)
          throw new Error('rollback')
        })
        .catch((e: unknown) => (e as Error).message)
      expect(outcome, sql).toBe('rollback')
    }
  })

  it('refuses them inside a transaction too (the schema router inside sy.transaction)', async () => {
    const before = await snapshot()
    for (const sql of [...structure, ...rows]) {
      const err = await pool.transaction((tx) => router.runInTransaction(tx, pool, sql, [], 'tenant_a')).catch((e: unknown) => e)
      expect(err, sql).toBeInstanceOf(TenantIsolationError)
    }
    expect(await snapshot()).toEqual(before)
  })

  it('a refusal is never cached as allowed, and an allowed rewrite for another schema does not leak to the tenant', async () => {
    const fresh = new SchemaRouter({ shared: ['shared'], sharedTables })
    const before = await snapshot()
    // The shared schema's own context may truncate it (prepare only: nothing runs); that rewrite is cached for 'shared' alone.
    expect(await fresh.prepare('truncate countries', 'shared')).toBe('truncate "shared".countries')
    const rewrites = fresh.cacheSizes.rewrites
    for (let i = 0; i < 3; i++) {
      for (const sql of ['truncate countries', 'with gone as (delete from countries returning *) select * from gone', 'drop table shared.countries']) {
        await expect(fresh.run(pool, sql, [], 'tenant_a'), sql).rejects.toBeInstanceOf(TenantIsolationError)
        await expect(fresh.prepare(sql, 'tenant_a'), sql).rejects.toBeInstanceOf(TenantIsolationError)
      }
    }
    expect(fresh.cacheSizes.rewrites).toBe(rewrites)
    // The analysis is cached (parsed once), the decision with it: still refused on the hot path.
    expect(fresh.cacheSizes.analyses).toBe(3)
    expect(await snapshot()).toEqual(before)
  })

  it('reads of shared tables stay allowed: selects, joins, subqueries, FOR SHARE, FOR UPDATE OF the tenant table, shared functions', async () => {
    for (const strategy of ['qualify', 'transaction'] as const) {
      const joined = await router.run<{ id: number; name: string }>(pool, 'select o.id, c.name from orders o join countries c on c.code = o.owner', [], 'tenant_a', { strategy })
      expect(joined.rows).toEqual([{ id: 1, name: 'France' }])
      const sub = await router.run<{ n: number }>(pool, 'select count(*)::int as n from orders where owner in (select code from shared.countries)', [], 'tenant_a', { strategy })
      expect(sub.rows).toEqual([{ n: 1 }])
      for (const sql of ['select code from countries for share', 'select code from shared.countries for key share', 'select o.id from orders o join countries c on c.code = o.owner for update of o']) {
        await pool.transaction((tx) => router.runInTransaction(tx, pool, sql, [], 'tenant_a'))
        await router.run(pool, sql, [], 'tenant_a', { strategy })
      }
      await router.run(pool, "update orders set owner = (select code from countries where name = 'France')", [], 'tenant_a', { strategy })
    }
    expect((await router.run<{ motto: string }>(pool, 'select shared.motto() as motto', [], 'tenant_a')).rows).toEqual([{ motto: 'shared' }])
    // nextval() on a shared sequence and FOR UPDATE on shared rows are refused like setval() (see shared-changes.test.ts).
    await expect(router.run(pool, "select nextval('shared.ids') as n", [], 'tenant_a')).rejects.toBeInstanceOf(TenantIsolationError)
    await expect(pool.transaction((tx) => router.runInTransaction(tx, pool, 'select code from countries for update', [], 'tenant_a'))).rejects.toBeInstanceOf(TenantIsolationError)
  })

  it("keeps tenant DDL and DML in the tenant's schema working, including tables that reference shared ones", async () => {
    await router.run(pool, 'create table orders2 (id int primary key, country text references shared.countries (code))', [], 'tenant_a')
    await router.run(pool, 'create table orders3 (id int primary key, country text)', [], 'tenant_a', { strategy: 'transaction' })
    await router.run(pool, 'create index on orders2 (country)', [], 'tenant_a')
    await router.run(pool, "insert into orders2 select 1, code from countries where code = 'fr'", [], 'tenant_a')
    await router.run(pool, "comment on table orders2 is 'mine'", [], 'tenant_a')
    await router.run(pool, 'alter table orders3 add column note text', [], 'tenant_a')
    await router.run(pool, 'truncate orders3', [], 'tenant_a')
    await router.run(pool, 'drop table orders3', [], 'tenant_a')
    const { rows: placed } = await pool.query<{ nspname: string; relname: string }>(
      `select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relname like 'orders%' and c.relkind = 'r' order by 2`,
    )
    expect(placed).toEqual([
      { nspname: 'tenant_a', relname: 'orders' },
      { nspname: 'tenant_a', relname: 'orders2' },
    ])
    expect((await pool.query('select id, country from tenant_a.orders2')).rows).toEqual([{ id: 1, country: 'fr' }])
  })

  it('sharedWrites: true lets DML write shared rows, but DDL and TRUNCATE stay refused', async () => {
    const before = await snapshot()
    for (const sql of structure) {
      await expect(writer.run(pool, sql, [], 'tenant_a'), sql).rejects.toThrow(/migrations on an admin connection/)
    }
    expect(await snapshot()).toEqual(before)
    for (const strategy of ['qualify', 'transaction'] as const) {
      await writer.run(pool, "insert into countries values ('de', 'Germany')", [], 'tenant_a', { strategy })
      await writer.run(pool, "update shared.countries set name = 'Deutschland' where code = 'de'", [], 'tenant_a', { strategy })
      expect((await pool.query('select name from shared.countries where code = $1', ['de'])).rows).toEqual([{ name: 'Deutschland' }])
      const { rows: gone } = await writer.run<{ code: string }>(pool, "with gone as (delete from countries where code = 'de' returning code) select * from gone", [], 'tenant_a', { strategy })
      expect(gone).toEqual([{ code: 'de' }])
    }
    expect(await snapshot()).toEqual(before)
  })

})
