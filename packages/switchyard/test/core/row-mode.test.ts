import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mysql2 from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSwitchyard, withRouteContext, type DatabaseRouter, type SchemaRoutingOptions, type Switchyard } from '../../src/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { mysql } from '../../src/engines/mysql/index.js'
import { sqlite } from '../../src/engines/sqlite/index.js'
import { engines } from '../engines/engines.js'
import { MYSQL_HOST, MYSQL_PORT, MYSQL_USER, createTempMysqlDatabase, createTempPgDatabase, randomName, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'

// `rowMode: 'array'` keeps columns that share a name (`select a.id, b.id`); the facade must
// carry it to the engine on every path a statement can take.

const DUPLICATES = 'select 1 as a, 2 as a'
const names = (r: { fields: readonly { name: string }[] }) => r.fields.map((f) => f.name)

for (const engine of engines) {
  describe.skipIf(!engine.available)(`rowMode through the routed facade on ${engine.name}`, () => {
    const server = engine.name === 'postgres' || engine.name === 'mysql'
    let made: Awaited<ReturnType<typeof engine.make>>
    let sy: Switchyard

    beforeAll(async () => {
      made = await engine.make()
      // `tenant:x` is resolved on demand, so it runs on a leased (not pinned) pool. Only on
      // server engines: an embedded spec would open a second, empty database (slow on PGlite).
      const resolved = server ? made.spec : undefined
      sy = createSwitchyard({ databases: { default: made.spec }, resolveAlias: (alias) => (alias === 'tenant:x' ? resolved : undefined) })
    })
    afterAll(async () => {
      await sy?.close()
      await made?.cleanup()
    })

    it('read, write and query return array rows with every duplicate column, fields unchanged', async () => {
      // The first statement opens the pool (leased path); the later ones take the pinned pool.
      for (let i = 0; i < 2; i++) {
        const r = await sy.read<[number, number]>(DUPLICATES, [], { rowMode: 'array' })
        expect(r.rows).toEqual([[1, 2]])
        expect(names(r)).toEqual(['a', 'a'])
        expect(r.rowCount).toBe(1)
        expect(r.alias).toBe('default')
      }
      expect((await sy.write(DUPLICATES, [], { rowMode: 'array' })).rows).toEqual([[1, 2]])
      expect((await sy.query(DUPLICATES, [], { rowMode: 'array', kind: 'read' })).rows).toEqual([[1, 2]])
    })

    it('on(alias), a resolved alias and a transaction carry it too', async () => {
      expect((await sy.on('default').read(DUPLICATES, [], { rowMode: 'array' })).rows).toEqual([[1, 2]])
      if (server) for (let i = 0; i < 2; i++) expect((await sy.on('tenant:x').read(DUPLICATES, [], { rowMode: 'array' })).rows).toEqual([[1, 2]])
      const inTx = await sy.transaction(async (tx) => {
        const arrays = await tx.read(DUPLICATES, [], { rowMode: 'array' })
        const objects = await tx.read('select 1 as a, 2 as b')
        return { arrays, objects }
      })
      expect(inTx.arrays.rows).toEqual([[1, 2]])
      expect(names(inTx.arrays)).toEqual(['a', 'a'])
      expect(inTx.objects.rows).toEqual([{ a: 1, b: 2 }])
      expect((await sy.transaction((tx) => tx.write(DUPLICATES, [], { rowMode: 'array' }))).rows).toEqual([[1, 2]])
    })

    it('without rowMode (or with "object") rows stay objects', async () => {
      expect((await sy.read('select 1 as a, 2 as b')).rows).toEqual([{ a: 1, b: 2 }])
      expect((await sy.read('select 1 as a, 2 as b', [], { rowMode: 'object' })).rows).toEqual([{ a: 1, b: 2 }])
      if (server) expect((await sy.on('tenant:x').read('select 1 as a, 2 as b')).rows).toEqual([{ a: 1, b: 2 }])
    })

    it('combines with a signal', async () => {
      const r = await sy.read(DUPLICATES, [], { rowMode: 'array', signal: new AbortController().signal })
      expect(r.rows).toEqual([[1, 2]])
    })
  })
}

const pgOk = await serviceAvailable('postgres')

// Each tenant's t/u rows differ from public's and from each other's, so a row says which schema it came from.
const JOIN = 'select t.id, u.id, t.tag from t join u on u.t_id = t.id order by u.id'
const seed = (schema: string, base: number, tag: string) => [
  `create table "${schema}".t (id int primary key, tag text not null)`,
  `create table "${schema}".u (id int primary key, t_id int not null)`,
  `insert into "${schema}".t values (${base}, '${tag}')`,
  `insert into "${schema}".u values (${base * 10}, ${base})`,
]

describe.skipIf(!pgOk)('rowMode under schema routing on PostgreSQL', () => {
  let db: TempDatabase
  const tenantRouter: DatabaseRouter = { schemaFor: (ctx) => (ctx.tenant ? `tenant_${ctx.tenant}` : undefined) }
  const open = (schemaRouting: SchemaRoutingOptions, routers: DatabaseRouter[] = [tenantRouter]) =>
    createSwitchyard({ databases: { default: postgres({ connectionString: db.connectionString, max: 3 }) }, routers, schemaRouting })

  beforeAll(async () => {
    db = await createTempPgDatabase()
    const setup = createSwitchyard({ databases: { default: postgres({ connectionString: db.connectionString, max: 1 }) } })
    try {
      await setup.write('create schema tenant_a')
      await setup.write('create schema tenant_b')
      // A function only tenant_a has: under `qualify` the statement must take the search-path path.
      await setup.write(`create function tenant_a.twice(x int) returns int language sql immutable as 'select x * 2'`)
      for (const s of [...seed('public', 3, 'public'), ...seed('tenant_a', 1, 'a'), ...seed('tenant_b', 2, 'b')]) await setup.write(s)
    } finally {
      await setup.close()
    }
  })
  afterAll(async () => {
    await db?.drop()
  })

  const cases: { name: string; routing: SchemaRoutingOptions; routers?: DatabaseRouter[] }[] = [
    { name: "strategy 'qualify'", routing: { strategy: 'qualify' } },
    { name: "strategy 'transaction' (search path)", routing: { strategy: 'transaction' } },
    // The router's own schemaStrategy overrides the applier's default.
    { name: "a router's schemaStrategy 'transaction'", routing: { strategy: 'qualify' }, routers: [{ ...tenantRouter, schemaStrategy: 'transaction' }] },
  ]

  for (const c of cases) {
    describe(c.name, () => {
      let sy: Switchyard
      beforeAll(() => {
        sy = open(c.routing, c.routers)
      })
      afterAll(async () => {
        await sy?.close()
      })

      it("returns array rows with both ids, from the tenant's own schema", async () => {
        for (const [tenant, row] of [
          ['a', [1, 10, 'a']],
          ['b', [2, 20, 'b']],
        ] as const) {
          for (let i = 0; i < 2; i++) {
            const r = await withRouteContext({ tenant }, () => sy.read<[number, number, string]>(JOIN, [], { rowMode: 'array' }))
            expect(r.rows).toEqual([row])
            expect(names(r)).toEqual(['id', 'id', 'tag'])
          }
        }
        expect((await sy.read(JOIN, [], { rowMode: 'array' })).rows).toEqual([[3, 30, 'public']])
      })

      it('carries it through on(alias), a signal, and a statement that needs the search path', async () => {
        const asA = <T>(fn: () => Promise<T>) => withRouteContext({ tenant: 'a' }, fn)
        expect((await asA(() => sy.on('default').read(JOIN, [], { rowMode: 'array' }))).rows).toEqual([[1, 10, 'a']])
        expect((await asA(() => sy.read(JOIN, [], { rowMode: 'array', signal: new AbortController().signal }))).rows).toEqual([[1, 10, 'a']])
        expect((await asA(() => sy.query(JOIN, [], { rowMode: 'array' }))).rows).toEqual([[1, 10, 'a']])
        const fn = await asA(() => sy.read('select twice(t.id) as id, u.id from t join u on u.t_id = t.id', [], { rowMode: 'array' }))
        expect(fn.rows).toEqual([[2, 10]])
      })

      it('inside sy.transaction, and nowhere else the default changes', async () => {
        const inTx = await withRouteContext({ tenant: 'b' }, () =>
          sy.transaction(async (tx) => {
            const arrays = await tx.read(JOIN, [], { rowMode: 'array' })
            // A savepoint's scope runs through the same applier.
            const nested = await tx.transaction((sp) => sp.read(JOIN, [], { rowMode: 'array' }))
            const objects = await tx.read(JOIN)
            return { arrays, nested, objects }
          }),
        )
        expect(inTx.arrays.rows).toEqual([[2, 20, 'b']])
        expect(names(inTx.arrays)).toEqual(['id', 'id', 'tag'])
        expect(inTx.nested.rows).toEqual([[2, 20, 'b']])
        // Object rows: the later `id` overwrites the earlier one.
        expect(inTx.objects.rows).toEqual([{ id: 20, tag: 'b' }])
        expect((await withRouteContext({ tenant: 'a' }, () => sy.read(JOIN))).rows).toEqual([{ id: 10, tag: 'a' }])
      })
    })
  }
})

// SQLite reaches a tenant's attached file only through qualified names.
describe('rowMode under schema routing on SQLite attached files', () => {
  let dir: string
  let sy: Switchyard

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sy-rowmode-'))
    sy = createSwitchyard({
      databases: { default: sqlite({ filename: join(dir, 'main.sqlite') }) },
      routers: [{ schemaFor: (ctx) => (ctx.tenant ? `tenant_${ctx.tenant}` : undefined) }],
    })
    await sy.write('create table t (id integer primary key, tag text not null)')
    await sy.write('create table u (id integer primary key, t_id integer not null)')
    await sy.write(`insert into t values (3, 'main')`)
    await sy.write('insert into u values (30, 3)')
    const lease = await sy.pools.acquire('default')
    try {
      await lease.pool.createSchema('tenant_a')
    } finally {
      lease.release()
    }
    await withRouteContext({ tenant: 'a' }, async () => {
      await sy.write('create table t (id integer primary key, tag text not null)')
      await sy.write('create table u (id integer primary key, t_id integer not null)')
      await sy.write(`insert into t values (1, 'a')`)
      await sy.write('insert into u values (10, 1)')
    })
  })
  afterAll(async () => {
    await sy?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it("returns array rows from the tenant's file, routed and inside a transaction", async () => {
    const asA = <T>(fn: () => Promise<T>) => withRouteContext({ tenant: 'a' }, fn)
    const r = await asA(() => sy.read(JOIN, [], { rowMode: 'array' }))
    expect(r.rows).toEqual([[1, 10, 'a']])
    expect(names(r)).toEqual(['id', 'id', 'tag'])
    expect((await asA(() => sy.transaction((tx) => tx.read(JOIN, [], { rowMode: 'array' })))).rows).toEqual([[1, 10, 'a']])
    expect((await sy.read(JOIN, [], { rowMode: 'array' })).rows).toEqual([[3, 30, 'main']])
    expect((await asA(() => sy.read(JOIN))).rows).toEqual([{ id: 10, tag: 'a' }])
  })
})

const mysqlOk = await serviceAvailable('mysql')

// MySQL/MariaDB: a tenant's "schema" is a database selected per statement.
describe.skipIf(!mysqlOk)('rowMode under schema routing on MariaDB databases', () => {
  let home: TempDatabase
  let sy: Switchyard
  const prefix = randomName('sy_rm')
  const admin = async (statements: readonly string[]) => {
    const c = await mysql2.createConnection({ host: MYSQL_HOST, port: MYSQL_PORT, user: MYSQL_USER })
    try {
      for (const s of statements) await c.query(s)
    } finally {
      await c.end()
    }
  }

  beforeAll(async () => {
    home = await createTempMysqlDatabase('sy_rmhome')
    const db = `\`${prefix}_a\``
    await admin([
      `create database ${db}`,
      `create table ${db}.t (id int primary key, tag varchar(20) not null)`,
      `create table ${db}.u (id int primary key, t_id int not null)`,
      `insert into ${db}.t values (1, 'a')`,
      `insert into ${db}.u values (10, 1)`,
    ])
    sy = createSwitchyard({
      databases: { default: mysql({ connectionString: home.connectionString, max: 2 }) },
      routers: [{ schemaFor: (ctx) => (ctx.tenant ? `${prefix}_${ctx.tenant}` : undefined) }],
    })
  })
  afterAll(async () => {
    await sy?.close()
    await admin([`drop database if exists \`${prefix}_a\``])
    await home?.drop()
  })

  it("returns array rows from the tenant's database, routed and inside a transaction", async () => {
    const asA = <T>(fn: () => Promise<T>) => withRouteContext({ tenant: 'a' }, fn)
    const r = await asA(() => sy.read(JOIN, [], { rowMode: 'array' }))
    expect(r.rows).toEqual([[1, 10, 'a']])
    expect(names(r)).toEqual(['id', 'id', 'tag'])
    expect((await asA(() => sy.transaction((tx) => tx.read(JOIN, [], { rowMode: 'array' })))).rows).toEqual([[1, 10, 'a']])
    expect((await asA(() => sy.read(JOIN))).rows).toEqual([{ id: 10, tag: 'a' }])
  })
})
