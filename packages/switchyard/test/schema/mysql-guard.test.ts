import type { Generated } from 'kysely'
import mysql2 from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSwitchyard, SchemaRouter, TenantIsolationError, withRouteContext, type EnginePool, type Switchyard } from '../../src/index.js'
import { mysql } from '../../src/engines/mysql/index.js'
import { analyzeMysqlStatement, ensureMysqlParser, scanMysqlText, UnverifiableStatementError } from '../../src/sql/mysql-guard.js'
import { MYSQL_HOST, MYSQL_PORT, MYSQL_USER, createTempMysqlDatabase, randomName, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'

const ok = await serviceAvailable('mysql')

// MySQL/MariaDB: a tenant's "schema" is a database selected per statement. Selecting it does
// not stop a statement from naming another database, so every statement is parsed and guarded.
describe.skipIf(!ok)('MySQL schema routing guard on MariaDB', () => {
  let home: TempDatabase
  let raw: EnginePool
  let sy: Switchyard
  let router: SchemaRouter
  const prefix = randomName('sy_mg')
  const A = `${prefix}_a`
  const B = `${prefix}_b`
  const SHARED = `${prefix}_shared`
  const asA = <T>(fn: () => Promise<T>) => withRouteContext({ tenant: 'a' }, fn)
  const admin = async <T>(fn: (c: mysql2.Connection) => Promise<T>): Promise<T> => {
    const c = await mysql2.createConnection({ host: MYSQL_HOST, port: MYSQL_PORT, user: MYSQL_USER })
    try {
      return await fn(c)
    } finally {
      await c.end()
    }
  }
  const bTags = async () => (await raw.query<{ tag: string }>(`select tag from \`${B}\`.orders order by id`)).rows.map((r) => r.tag)

  beforeAll(async () => {
    await ensureMysqlParser()
    home = await createTempMysqlDatabase('sy_mghome')
    await admin(async (c) => {
      for (const [db, tag] of [
        [A, 'a'],
        [B, 'b'],
      ] as const) {
        await c.query(`create database \`${db}\``)
        await c.query(`create table \`${db}\`.orders (id int auto_increment primary key, tag varchar(40) not null)`)
        await c.query(`insert into \`${db}\`.orders (tag) values (?), (?)`, [tag, `${tag}-secret`])
        await c.query(`create function \`${db}\`.f(x int) returns varchar(40) deterministic return concat('${tag}', x)`)
        await c.query(`create procedure \`${db}\`.p() select tag from orders`)
      }
      await c.query(`create database \`${SHARED}\``)
      await c.query(`create table \`${SHARED}\`.countries (code char(2) primary key)`)
      await c.query(`insert into \`${SHARED}\`.countries values ('nz')`)
    })
    raw = mysql({ connectionString: home.connectionString, max: 2 }).createPool()
    router = new SchemaRouter({ shared: [SHARED] })
    sy = createSwitchyard({
      databases: { default: mysql({ connectionString: home.connectionString, max: 3 }) },
      routers: [{ schemaFor: (ctx: { tenant?: string }) => (ctx.tenant ? `${prefix}_${ctx.tenant}` : undefined) }],
      schemaRouting: router,
    })
  })
  afterAll(async () => {
    await sy?.close()
    await raw?.close()
    await admin(async (c) => {
      for (const db of [A, B, SHARED]) await c.query(`drop database if exists \`${db}\``)
    })
    await home?.drop()
  })

  it('runs plain statements in the asking tenant\'s database, and shared ones', async () => {
    expect((await asA(() => sy.read<{ tag: string }>('select tag from orders order by id'))).rows).toEqual([{ tag: 'a' }, { tag: 'a-secret' }])
    expect((await withRouteContext({ tenant: 'b' }, () => sy.read<{ tag: string }>('select tag from orders order by id'))).rows.map((r) => r.tag)).toEqual(['b', 'b-secret'])
    expect((await asA(() => sy.read<{ tag: string }>(`select o.tag from \`${A}\`.orders o where o.id = ?`, [1]))).rows).toEqual([{ tag: 'a' }])
    expect((await asA(() => sy.read<{ code: string }>(`select c.code from \`${SHARED}\`.countries c`))).rows).toEqual([{ code: 'nz' }])
    expect((await asA(() => sy.read<{ v: string }>('select f(7) as v'))).rows).toEqual([{ v: 'a7' }])
    await asA(() => sy.write('insert into orders (tag) values (?)', ['a-new']))
    await asA(() => sy.write('update orders set tag = ? where tag = ?', ['a-new2', 'a-new']))
    const inTx = await asA(() => sy.transaction((tx) => tx.read<{ n: number }>('select count(*) as n from orders where tag like ?', ['a%'])))
    expect(Number(inTx.rows[0]!.n)).toBe(3)
    // The facade's own compound statements pass the guard.
    const made = await asA(() => sy.getOrCreate<{ tag: string }>('orders', { tag: 'a-goc' }))
    expect(made.created).toBe(true)
    expect((await asA(() => sy.getOrCreate<{ tag: string }>('orders', { tag: 'a-goc' }))).created).toBe(false)
    await asA(() => sy.write('delete from orders where tag in (?)', [['a-new2', 'a-goc']]))
    expect(await bTags()).toEqual(['b', 'b-secret'])
  })

  it("the statements below do reach B when run unguarded (so the refusals are meaningful)", async () => {
    expect((await raw.query<{ tag: string }>(`select tag from \`${B}\`.orders order by id limit 1`, [], { schema: A })).rows).toEqual([{ tag: 'b' }])
    // MySQL reads "--1" as minus minus one; the parser reads it as a comment hiding the rest of the line.
    const hidden = await raw.query<Record<string, unknown>>(`select 1 --1, (select tag from \`${B}\`.orders order by id limit 1) as leak`, [], { schema: A })
    expect(hidden.rows[0]!.leak).toBe('b')
    const exec = await raw.query<Record<string, unknown>>(`select 1 /*! , (select tag from \`${B}\`.orders order by id limit 1) */ as leak`, [], { schema: A })
    expect(Object.values(exec.rows[0]!)).toContain('b')
    // MySQL ends a line comment at \n only; the parser also at \r, and then reads a string where MySQL reads code.
    const cr = await raw.query<Record<string, unknown>>(`select 1 -- x\r, 'abc\n, (select tag from \`${B}\`.orders order by id limit 1) as leak -- '`, [], { schema: A })
    expect(cr.rows[0]!.leak).toBe('b')
  })

  const crossing = (b: string) => [
    `select * from ${b}.orders`,
    `select * from \`${b}\`.\`orders\``,
    `select * from \`${b}\` . orders`,
    `select o.tag from orders o join ${b}.orders x on x.id = o.id`,
    `select * from orders o, ${b}.orders`,
    `select * from orders where id in (select id from ${b}.orders)`,
    `select * from orders where exists (select 1 from ${b}.orders)`,
    `select (select tag from ${b}.orders limit 1) as t`,
    `select * from (select * from ${b}.orders) d`,
    `with x as (select * from ${b}.orders) select * from x`,
    `select tag from orders union select tag from ${b}.orders`,
    `select * from orders order by (select max(id) from ${b}.orders)`,
    `insert into orders (tag) select tag from ${b}.orders`,
    `update orders o join ${b}.orders x on x.id = o.id set o.tag = x.tag`,
    `update orders set tag = (select tag from ${b}.orders limit 1)`,
    `delete from ${b}.orders`,
    `delete o from orders o join ${b}.orders x on x.id = o.id`,
    `select ${b}.f(1)`,
    `select \`${b}\`.\`f\`(1) as v`,
    `select ${b}.orders.tag from orders`,
    `create table stolen as select * from ${b}.orders`,
    `create table stolen like ${b}.orders`,
    `create table fk (id int, foreign key (id) references ${b}.orders(id))`,
    `create view v as select * from ${b}.orders`,
    `rename table orders to ${b}.orders2`,
    `drop table ${b}.orders`,
    `truncate table ${b}.orders`,
    `explain select * from ${b}.orders`,
  ]

  it('refuses every reference to another tenant\'s database, and B is untouched', async () => {
    for (const sql of crossing(B)) {
      const err = await asA(() => sy.read(sql)).catch((e: unknown) => e)
      expect(err, sql).toBeInstanceOf(TenantIsolationError)
      expect((err as Error).message, sql).toContain(B)
    }
    expect(await bTags()).toEqual(['b', 'b-secret'])
    // Inside a transaction too.
    const inTx = await asA(() => sy.transaction((tx) => tx.read(`select * from \`${B}\`.orders`))).catch((e: unknown) => e)
    expect(inTx).toBeInstanceOf(TenantIsolationError)
  })

  it('refuses system databases that expose other tenants (processlist, table names)', async () => {
    for (const sql of ['select * from information_schema.processlist', 'select table_name from information_schema.tables', 'select * from mysql.user', 'select * from performance_schema.threads']) {
      await expect(asA(() => sy.read(sql)), sql).rejects.toBeInstanceOf(TenantIsolationError)
    }
  })

  it.each([
    ['switching database', (b: string) => `use ${b}`],
    ['SET session variable', () => "set @@session.sql_mode = ''"],
    ['SET SESSION', () => "set session sql_mode = ''"],
    ['SET NAMES', () => 'set names latin1'],
    ['SET user variable', () => 'set @x = 1'],
    ['SET TRANSACTION', () => 'set transaction isolation level read uncommitted'],
    ['assigning a user variable', () => 'select @leak := tag from orders'],
    ['reading a user variable', () => 'select @leak'],
    ['SELECT INTO a variable', () => 'select tag into @leak from orders limit 1'],
    ['two statements', (b: string) => `select tag from orders; select tag from ${b}.orders`],
    ['two harmless statements', () => 'select 1; select 2'],
    ['"--" hiding code from the parser', (b: string) => `select 1 --1, (select tag from ${b}.orders limit 1) as leak`],
    ['line comment ended by a lone CR for the parser only', (b: string) => `select 1 -- x\r, 'abc\n, (select tag from ${b}.orders limit 1) as leak -- '`],
    ['executable comment', (b: string) => `select 1 /*! , (select tag from ${b}.orders limit 1) */`],
    ['MariaDB executable comment', (b: string) => `select 1 /*M! , (select tag from ${b}.orders limit 1) */`],
    ['CALL of another tenant', (b: string) => `call ${b}.p()`],
    ['CALL (body unreadable)', () => 'call p()'],
    ['LOAD_FILE', () => "select load_file('/etc/passwd')"],
    ['INTO OUTFILE', () => "select * from orders into outfile '/tmp/sy-leak'"],
    ['INTO DUMPFILE', () => "select tag from orders limit 1 into dumpfile '/tmp/sy-leak'"],
    ['GET_LOCK', () => "select get_lock('x', 0)"],
    ['LAST_INSERT_ID(expr)', () => 'select last_insert_id(42)'],
    ['temporary table', () => 'create temporary table t (id int)'],
    ['transaction control', () => 'start transaction'],
    ['LOCK TABLES', () => 'lock tables orders write'],
    ['FEDERATED table', (b: string) => `create table f (id int) engine=federated connection='mysql://root@127.0.0.1/${b}/orders'`],
    ['DATA DIRECTORY', () => "create table f (id int) data directory='/tmp'"],
    ['DROP DATABASE', (b: string) => `drop database ${b}`],
    ['CREATE DATABASE', () => 'create database sy_mg_other'],
    ['SHOW PROCESSLIST', () => 'show processlist'],
    ['LOAD DATA', () => "load data infile '/etc/passwd' into table orders"],
    ['GRANT', () => "grant all on *.* to 'x'@'%'"],
    ['?? identifier placeholder', () => 'select * from ??'],
    ['? inside a string literal', () => "select * from orders where tag = '?'"],
  ])('refuses %s', async (_what, make) => {
    const sql = make(B)
    await expect(asA(() => sy.read(sql)), sql).rejects.toBeInstanceOf(TenantIsolationError)
  })

  it('refuses a statement it cannot parse, fail closed, with a typed "could not be verified" error', async () => {
    for (const sql of ['garbage blah', `selectt * from ${B}.orders`, 'flush tables', `handler ${B}.orders open`, 'select * from orders where tag regexp ?']) {
      const err = await asA(() => sy.read(sql, ['x'])).catch((e: unknown) => e)
      expect(err, sql).toBeInstanceOf(UnverifiableStatementError)
      expect(err, sql).toBeInstanceOf(TenantIsolationError)
      expect((err as Error).message).toMatch(/could not be verified/)
    }
  })

  it('refuses parameters the driver would expand into SQL text', async () => {
    await expect(asA(() => sy.read('select * from orders where ?', [{ [`${B}.orders.id`]: 1 }]))).rejects.toBeInstanceOf(UnverifiableStatementError)
    await expect(asA(() => sy.read('select * from orders where id = ?', [{ toSqlString: () => `(select id from \`${B}\`.orders limit 1)` }]))).rejects.toBeInstanceOf(UnverifiableStatementError)
    // Plain values, lists and dates pass.
    const { rows } = await asA(() => sy.read<{ tag: string }>('select tag from orders where id in (?) and tag <> ? order by id', [[1, 2], new Date(0).toISOString()]))
    expect(rows.map((r) => r.tag)).toEqual(['a', 'a-secret'])
  })

  /** The shared database's tables, their definitions, and the countries rows, read as an admin. */
  const sharedSnapshot = () =>
    admin(async (c) => {
      const [tables] = await c.query(`select table_name as name from information_schema.tables where table_schema = ? order by table_name`, [SHARED])
      const names = (tables as { name: string }[]).map((t) => t.name)
      const definitions: string[] = []
      for (const name of names) {
        const [rows] = await c.query(`show create table \`${SHARED}\`.\`${name}\``)
        definitions.push(JSON.stringify(rows))
      }
      const [countries] = await c.query(`select code from \`${SHARED}\`.countries order by code`)
      return { names, definitions, countries }
    })

  const sharedDdl = (s: string) => [
    `drop table ${s}.countries`,
    `drop table if exists orders2, ${s}.countries`,
    `truncate table ${s}.countries`,
    `alter table ${s}.countries add column x int`,
    `create table ${s}.x (id int)`,
    `create table ${s}.stolen as select * from orders`,
    `create index countries_code on ${s}.countries (code)`,
    `create view ${s}.v as select 1 as x`,
    `rename table orders to ${s}.orders2`,
    `rename table ${s}.countries to stolen`,
  ]
  const sharedDml = (s: string) => [
    `insert into ${s}.countries values ('de')`,
    `insert into ${s}.countries (code) select substr(tag, 1, 2) from orders limit 1`,
    `insert into ${s}.countries values ('nz') on duplicate key update code = 'zz'`,
    `replace into ${s}.countries values ('nz')`,
    `update ${s}.countries set code = 'zz'`,
    `update orders o join ${s}.countries c on c.code = 'nz' set c.code = 'zz'`,
    `update orders o join ${s}.countries c on c.code = 'nz' set code = 'zz'`,
    `delete from ${s}.countries`,
    `delete c from orders o join ${s}.countries c on c.code = 'nz'`,
    `delete ${s}.countries from ${s}.countries`,
  ]

  it('refuses DDL and TRUNCATE on a shared database, and DML into it by default; the shared database is untouched', async () => {
    const before = await sharedSnapshot()
    for (const sql of sharedDdl(SHARED)) {
      const err = await asA(() => sy.write(sql)).catch((e: unknown) => e)
      expect(err, sql).toBeInstanceOf(TenantIsolationError)
      expect((err as Error).message, sql).toMatch(new RegExp(`would change shared database '${SHARED}'.*migrations on an admin connection`))
    }
    for (const sql of sharedDml(SHARED)) {
      const err = await asA(() => sy.write(sql)).catch((e: unknown) => e)
      expect(err, sql).toBeInstanceOf(TenantIsolationError)
      expect((err as Error).message, sql).toMatch(new RegExp(`would write rows in shared database '${SHARED}'.*visible to every tenant`))
      // Inside a transaction too.
      await expect(asA(() => sy.transaction((tx) => tx.write(sql))), sql).rejects.toBeInstanceOf(TenantIsolationError)
    }
    // The ambiguous multi-table UPDATE says how to make it acceptable.
    await expect(asA(() => sy.write(`update orders o join \`${SHARED}\`.countries c on c.code = 'nz' set tag = 'x'`))).rejects.toThrow(/qualify SET columns/)
    expect(await sharedSnapshot()).toEqual(before)
    expect((await asA(() => sy.read<{ n: number }>('select count(*) as n from orders'))).rows.map((r) => Number(r.n))).toEqual([2])
  })

  it('keeps reads of the shared database, and writes that only read it, allowed', async () => {
    const before = await sharedSnapshot()
    const { rows } = await asA(() => sy.read<{ tag: string; code: string }>(`select o.tag, c.code from orders o join \`${SHARED}\`.countries c on c.code = 'nz' where o.id = 1`))
    expect(rows).toEqual([{ tag: 'a', code: 'nz' }])
    await asA(() => sy.transaction((tx) => tx.read(`select code from \`${SHARED}\`.countries lock in share mode`)))
    await asA(() => sy.transaction((tx) => tx.read(`select o.tag from orders o where o.tag in (select code from \`${SHARED}\`.countries) for update`)))
    await asA(() => sy.write(`update orders o join \`${SHARED}\`.countries c on c.code = 'nz' set o.tag = concat('a-', c.code) where o.id = 1`))
    await asA(() => sy.write(`update orders set tag = (select code from \`${SHARED}\`.countries limit 1) where id = 1`))
    await asA(() => sy.write(`delete o from orders o join \`${SHARED}\`.countries c on c.code = o.tag where o.id = 1`))
    await asA(() => sy.write(`insert into orders (id, tag) select 1, code from \`${SHARED}\`.countries limit 1`))
    await asA(() => sy.write(`update orders set tag = 'a' where id = 1`))
    await asA(() => sy.write(`create table orders2 like \`${SHARED}\`.countries`))
    await asA(() => sy.write('drop table orders2'))
    expect(await sharedSnapshot()).toEqual(before)
  })

  it('refuses NEXTVAL()/SETVAL() on a shared sequence and SELECT ... FOR UPDATE on a shared table, unless sharedWrites; the tenant\'s own and LOCK IN SHARE MODE still run', async () => {
    await admin(async (c) => {
      await c.query(`create sequence if not exists \`${SHARED}\`.small maxvalue 50`)
      await c.query(`create sequence if not exists \`${A}\`.own`)
    })
    const smallState = () => admin(async (c) => (await c.query(`select next_not_cached_value as n from \`${SHARED}\`.small`))[0])
    /** Whether another session can lock the shared rows for update at once. */
    const sharedRowsFree = () =>
      admin(async (c) =>
        c.query(`select code from \`${SHARED}\`.countries for update nowait`).then(
          () => true,
          (err: { errno?: number }) => {
            if (err.errno === 1205 || err.errno === 3572) return false
            throw err
          },
        ),
      )
    const writes = createSwitchyard({
      databases: { default: mysql({ connectionString: home.connectionString, max: 2 }) },
      routers: [{ schemaFor: (ctx: { tenant?: string }) => (ctx.tenant ? `${prefix}_${ctx.tenant}` : undefined) }],
      schemaRouting: { shared: [SHARED], sharedWrites: true },
    })
    try {
      const before = await smallState()
      for (const [sql, what] of [
        [`select nextval(\`${SHARED}\`.small) from orders, orders o2, orders o3`, 'NEXTVAL\\(\\) on'],
        [`select setval(\`${SHARED}\`.small, 40)`, 'SETVAL\\(\\) on'],
        [`select code from \`${SHARED}\`.countries for update`, 'SELECT \\.\\.\\. FOR UPDATE \\(row locks\\) on'],
        [`select o.tag from orders o join \`${SHARED}\`.countries c on c.code = 'nz' for update`, 'SELECT \\.\\.\\. FOR UPDATE \\(row locks\\) on'],
        [`select * from (select code from \`${SHARED}\`.countries) x for update`, 'SELECT \\.\\.\\. FOR UPDATE \\(row locks\\) on'],
        [`select tag from orders where tag in (select code from \`${SHARED}\`.countries for update)`, 'SELECT \\.\\.\\. FOR UPDATE \\(row locks\\) on'],
      ] as const) {
        const pattern = new RegExp(`${what} ${SHARED}\\.(small|countries) would write rows in shared database '${SHARED}'`)
        await expect(asA(() => sy.read(sql)), sql).rejects.toThrow(pattern)
        let seen: unknown
        await asA(() =>
          sy.transaction(async (tx) => {
            seen = await tx.read(sql).catch((e: unknown) => e)
            expect(await sharedRowsFree()).toBe(true)
          }),
        )
        expect(seen, sql).toBeInstanceOf(TenantIsolationError)
      }
      // NEXT VALUE FOR is beyond the parser: refused as unverifiable.
      await expect(asA(() => sy.read(`select next value for \`${SHARED}\`.small`))).rejects.toBeInstanceOf(UnverifiableStatementError)
      expect(await smallState()).toEqual(before)
      // The tenant's own sequence and rows.
      const first = Number((await asA(() => sy.read<{ n: number }>('select nextval(own) as n'))).rows[0]!.n)
      expect(Number((await asA(() => sy.read<{ n: number }>(`select nextval(\`${A}\`.own) as n`))).rows[0]!.n)).toBe(first + 1)
      await asA(() =>
        sy.transaction(async (tx) => {
          expect((await tx.read('select id from orders order by id for update')).rows).toHaveLength(2)
          expect((await tx.read(`select code from \`${SHARED}\`.countries lock in share mode`)).rows).toEqual([{ code: 'nz' }])
        }),
      )
      // sharedWrites: both run (a tenant may UPDATE those rows anyway).
      expect((await asA(() => writes.read<{ n: number }>(`select nextval(\`${SHARED}\`.small) as n`))).rows.map((r) => Number(r.n))).toEqual([1])
      await asA(() =>
        writes.transaction(async (tx) => {
          expect((await tx.read(`select code from \`${SHARED}\`.countries for update`)).rows).toEqual([{ code: 'nz' }])
          expect(await sharedRowsFree()).toBe(false)
        }),
      )
      expect(await sharedRowsFree()).toBe(true)
    } finally {
      await writes.close()
      await admin(async (c) => {
        await c.query(`drop sequence if exists \`${SHARED}\`.small`)
        await c.query(`drop sequence if exists \`${A}\`.own`)
      })
    }
  })

  it('sharedWrites: true lets DML write the shared database; DDL and TRUNCATE stay refused', async () => {
    const writes = createSwitchyard({
      databases: { default: mysql({ connectionString: home.connectionString, max: 2 }) },
      routers: [{ schemaFor: (ctx: { tenant?: string }) => (ctx.tenant ? `${prefix}_${ctx.tenant}` : undefined) }],
      schemaRouting: { shared: [SHARED], sharedWrites: true },
    })
    try {
      const before = await sharedSnapshot()
      for (const sql of sharedDdl(SHARED)) {
        await expect(asA(() => writes.write(sql)), sql).rejects.toThrow(/migrations on an admin connection/)
      }
      expect(await sharedSnapshot()).toEqual(before)
      await asA(() => writes.write(`insert into \`${SHARED}\`.countries values ('de')`))
      await asA(() => writes.write(`update \`${SHARED}\`.countries set code = 'dk' where code = 'de'`))
      expect((await sharedSnapshot()).countries).toEqual([{ code: 'dk' }, { code: 'nz' }])
      await asA(() => writes.write(`delete from \`${SHARED}\`.countries where code = 'dk'`))
      expect(await sharedSnapshot()).toEqual(before)
    } finally {
      await writes.close()
    }
  })

  it('refuses a view reading a shared table (rows written through it would land there), unless sharedWrites; views over the tenant tables still work', async () => {
    const VIEW = new RegExp(`CREATE VIEW \\w+ reading ${SHARED}\\.countries would let rows be written into shared database '${SHARED}' through the view.*create such views in a migration`)
    const before = await sharedSnapshot()
    for (const sql of [
      `create view v as select * from \`${SHARED}\`.countries`,
      `create or replace view v as select code from ${SHARED}.countries where code <> 'xx'`,
      `create algorithm = merge view v as select * from ${SHARED}.countries`,
      `create view v as select * from (select * from ${SHARED}.countries) s`,
      `create view v as with c as (select * from ${SHARED}.countries) select * from c`,
      `create view v as select o.id from orders o where o.tag in (select code from ${SHARED}.countries)`,
    ]) {
      const err = await asA(() => sy.write(sql)).catch((e: unknown) => e)
      expect(err, sql).toBeInstanceOf(TenantIsolationError)
      expect((err as Error).message, sql).toMatch(VIEW)
      await expect(asA(() => sy.transaction((tx) => tx.write(sql))), sql).rejects.toBeInstanceOf(TenantIsolationError)
    }
    // No view was made, so nothing can be written through one.
    await expect(asA(() => sy.write(`insert into v values ('pl')`))).rejects.toThrow(/doesn't exist/)
    await expect(asA(() => sy.write(`update v set code = 'zz' where code = 'nz'`))).rejects.toThrow(/doesn't exist/)
    expect(await sharedSnapshot()).toEqual(before)

    // A view over the tenant's own table is created in its database and written through.
    await asA(() => sy.write(`create view my_orders as select id, tag from orders where id > 0`))
    await asA(() => sy.write(`insert into my_orders (id, tag) values (50, 'a-view')`))
    await asA(() => sy.write(`update my_orders set tag = 'a-view2' where id = 50`))
    expect((await raw.query<{ tag: string }>(`select tag from \`${A}\`.orders where id = 50`)).rows).toEqual([{ tag: 'a-view2' }])
    await asA(() => sy.write(`delete from my_orders where id = 50`))
    await asA(() => sy.write('drop view my_orders'))

    const writes = createSwitchyard({
      databases: { default: mysql({ connectionString: home.connectionString, max: 1 }) },
      routers: [{ schemaFor: (ctx: { tenant?: string }) => (ctx.tenant ? `${prefix}_${ctx.tenant}` : undefined) }],
      schemaRouting: { shared: [SHARED], sharedWrites: true },
    })
    try {
      await asA(() => writes.write(`create view all_countries as select * from \`${SHARED}\`.countries`))
      await asA(() => writes.write(`insert into all_countries values ('de')`))
      expect((await sharedSnapshot()).countries).toEqual([{ code: 'de' }, { code: 'nz' }])
      await asA(() => writes.write(`delete from all_countries where code = 'de'`))
      await asA(() => writes.write('drop view all_countries'))
    } finally {
      await writes.close()
    }
    expect(await sharedSnapshot()).toEqual(before)
  })

  it('the refused statements do run on MariaDB when unguarded (so each refusal is meaningful)', async () => {
    // Run in a throwaway copy of the shared database, so nothing real changes.
    const copy = `${SHARED}_copy`
    await admin(async (c) => {
      try {
        for (const sql of [...sharedDdl(copy), ...sharedDml(copy)]) {
          await c.query(`drop database if exists \`${copy}\``)
          await c.query(`create database \`${copy}\``)
          await c.query(`create table \`${copy}\`.countries (code char(2) primary key)`)
          await c.query(`insert into \`${copy}\`.countries values ('nz')`)
          await c.query(`use \`${A}\``)
          await c.query(sql)
          // RENAME moved A's orders away: put it back.
          if (sql.startsWith('rename table orders')) await c.query(`rename table \`${copy}\`.orders2 to \`${A}\`.orders`)
        }
      } finally {
        await c.query(`drop database if exists \`${copy}\``)
      }
    })
  })

  it("refuses the connection's last generated id (another tenant's, on a pooled connection); the INSERT's own id is on its result and Kysely's", async () => {
    // Unguarded, a connection that ran tenant B's insert hands its id to the next statement.
    const one = mysql({ connectionString: home.connectionString, max: 1 }).createPool()
    try {
      const leaked = await one.query(`insert into \`${B}\`.orders (tag) values ('b-new')`)
      expect((await one.query<{ id: number }>('select last_insert_id() as id')).rows[0]!.id).toBe(Number(leaked.insertId))
      await one.query(`delete from \`${B}\`.orders where tag = 'b-new'`)
    } finally {
      await one.close()
    }
    for (const sql of ['select last_insert_id()', 'select LAST_INSERT_ID() + 1 as next', 'select @@identity', 'select @@last_insert_id', 'select @@session.last_insert_id']) {
      const err = await asA(() => sy.read(sql)).catch((e: unknown) => e)
      expect(err, sql).toBeInstanceOf(TenantIsolationError)
      expect((err as Error).message, sql).toMatch(/insertId/)
    }
    const inserted = await asA(() => sy.write('insert into orders (tag) values (?)', ['a-new']))
    const [row] = (await raw.query<{ id: number }>(`select id from \`${A}\`.orders where tag = 'a-new'`)).rows
    expect(inserted.insertId).toBe(BigInt(row!.id))
    const k = sy.kysely<{ orders: { id: Generated<number>; tag: string } }>()
    const viaKysely = await asA(() => k.insertInto('orders').values({ tag: 'a-kysely' }).executeTakeFirstOrThrow())
    expect(viaKysely.insertId).toBe(inserted.insertId! + 1n)
    // An UPDATE generates no id: none is reported, not the connection's last one.
    expect((await asA(() => sy.write(`update orders set tag = tag where tag = 'a-new'`))).insertId).toBeUndefined()
    await raw.query(`delete from \`${A}\`.orders where tag in ('a-new', 'a-kysely')`)
  })

  it('analyses each statement text once (bounded LRU), for every tenant', async () => {
    const before = router.cacheSizes.analyses
    const sql = 'select tag from orders where id = ? /* cache probe */'
    for (let i = 0; i < 5; i++) {
      await asA(() => sy.read(sql, [1]))
      await withRouteContext({ tenant: 'b' }, () => sy.read(sql, [1]))
    }
    expect(router.cacheSizes.analyses).toBe(before + 1)
    // A refusal is cached too, and still refused for every tenant but the named one.
    const cross = `select tag from \`${B}\`.orders where id = ?`
    await expect(asA(() => sy.read(cross, [1]))).rejects.toBeInstanceOf(TenantIsolationError)
    expect((await withRouteContext({ tenant: 'b' }, () => sy.read<{ tag: string }>(cross, [1]))).rows).toEqual([{ tag: 'b' }])
    await expect(asA(() => sy.read(cross, [1]))).rejects.toBeInstanceOf(TenantIsolationError)

    const small = new SchemaRouter({ cacheSize: 3 })
    for (let i = 0; i < 10; i++) await small.run(raw, `select ${i} as n`, [], A)
    expect(small.cacheSizes.analyses).toBe(3)
  })
})

describe('MySQL guard analysis (parser only)', () => {
  beforeAll(() => ensureMysqlParser())

  it('collects databases from functions, sequences and table lists', () => {
    expect(analyzeMysqlStatement('select x.f(1), nextval(y.s) from z.t').databases.slice().sort()).toEqual(['x', 'y', 'z'])
    expect(analyzeMysqlStatement('select * from orders').databases).toEqual([])
    expect(analyzeMysqlStatement('select `x`.o.id, y.o.id from orders').databases.slice().sort()).toEqual(['x', 'y'])
    expect(analyzeMysqlStatement('insert into orders (tag) values (?) returning id').refusal).toBeUndefined() // MariaDB grammar
  })

  it('records the tables a statement changes in explicitly named databases, resolving aliases', () => {
    const changes = (sql: string) => analyzeMysqlStatement(sql).changes?.map((c) => `${c.change} ${c.statement} ${c.object}`)
    expect(changes('select * from sh.c')).toBeUndefined()
    expect(changes("insert into orders values ('x')")).toBeUndefined()
    expect(changes("insert into sh.c values ('x')")).toEqual(['rows INSERT INTO sh.c'])
    expect(changes('delete c from orders o join sh.c c on c.code = o.tag')).toEqual(['rows DELETE FROM sh.c'])
    expect(changes('delete o from orders o join sh.c c on c.code = o.tag')).toBeUndefined()
    expect(changes("update orders o join sh.c c on c.code = o.tag set o.tag = 'x'")).toBeUndefined()
    expect(changes("update orders o join sh.c c on c.code = o.tag set c.code = 'x'")).toEqual(['rows UPDATE sh.c'])
    expect(changes("update orders o join sh.c c on c.code = o.tag set code = 'x'")?.[0]).toMatch(/^rows UPDATE sh.c \(an unqualified SET column/)
    expect(changes('rename table orders to sh.o2, sh.c to c2')).toEqual(['structure RENAME TABLE sh.o2', 'structure RENAME TABLE sh.c'])
    expect(changes('create index i on sh.c (code)')).toEqual(['structure CREATE INDEX ... ON sh.c'])
    expect(changes('drop index i on sh.c')).toEqual(['structure DROP INDEX ... ON sh.c'])
    expect(changes('create view sh.v as select 1')).toEqual(['structure CREATE VIEW sh.v'])
    expect(changes('create view v as select * from sh.c')).toEqual(['view CREATE VIEW v reading sh.c'])
    expect(changes('create view v as select * from orders o join sh.c c on c.code = o.tag')).toEqual(['view CREATE VIEW v reading sh.c'])
    expect(changes('create view v as select * from orders')).toBeUndefined()
    expect(changes('create table t like sh.c')).toBeUndefined()
  })

  it('records NEXTVAL()/SETVAL() on a named sequence and SELECT ... FOR UPDATE on named tables as row changes; reads and LOCK IN SHARE MODE are not', () => {
    const changes = (sql: string) => analyzeMysqlStatement(sql).changes?.map((c) => `${c.change} ${c.statement} ${c.object}`)
    expect(changes('select nextval(sh.s)')).toEqual(['rows NEXTVAL() on sh.s'])
    expect(changes('select setval(sh.s, 10)')).toEqual(['rows SETVAL() on sh.s'])
    // A backquoted database qualifier is read too (it was once skipped: the database went unchecked).
    expect(changes('select nextval(`sh`.s)')).toEqual(['rows NEXTVAL() on sh.s'])
    expect(analyzeMysqlStatement('select nextval(`tenant_b`.s), lastval(`tenant_c`.s)').databases.slice().sort()).toEqual(['tenant_b', 'tenant_c'])
    expect(changes('select lastval(sh.s)')).toBeUndefined()
    expect(changes('select nextval(s)')).toBeUndefined()
    expect(changes('select * from sh.c for update')).toEqual(['rows SELECT ... FOR UPDATE (row locks) on sh.c'])
    expect(changes('select * from sh.c for update nowait')).toEqual(['rows SELECT ... FOR UPDATE (row locks) on sh.c'])
    expect(changes('select * from orders o join sh.c c on c.code = o.tag for update')).toEqual(['rows SELECT ... FOR UPDATE (row locks) on sh.c'])
    expect(changes('select * from (select * from sh.c) x for update')).toEqual(['rows SELECT ... FOR UPDATE (row locks) on sh.c'])
    expect(changes('select * from orders where tag in (select code from sh.c for update)')).toEqual(['rows SELECT ... FOR UPDATE (row locks) on sh.c'])
    expect(changes('select * from orders union select * from sh.c for update')).toEqual(['rows SELECT ... FOR UPDATE (row locks) on sh.c'])
    expect(changes('select * from orders for update')).toBeUndefined()
    expect(changes('select * from orders where tag in (select code from sh.c) for update')).toBeUndefined()
    expect(changes('select * from sh.c lock in share mode')).toBeUndefined()
    expect(analyzeMysqlStatement('select next value for sh.s').refusal?.kind).toBe('unverifiable')
  })

  it('scans text the way MySQL lexes it', () => {
    expect(scanMysqlText("select 'it''s', \"a\\\"b\", `we``ird` from t -- fine\n# also fine\n/* and this */")).toBeUndefined()
    expect(scanMysqlText("select 'a\\' /*! hidden */ '")).toBeUndefined() // all one string literal
    expect(scanMysqlText("select 'unterminated")).toMatch(/unterminated/)
    expect(scanMysqlText('select 1--1')).toMatch(/--/)
    expect(scanMysqlText('select 1 /* ? */')).toMatch(/comment/)
    expect(scanMysqlText('select 1 -- windows line end\r\n from t')).toBeUndefined()
    expect(scanMysqlText("select 1 -- x\r, 'a\n, 2 -- '")).toMatch(/carriage return/)
  })
})
