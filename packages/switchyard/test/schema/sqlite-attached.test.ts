import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSwitchyard, TenantIsolationError, withRouteContext, type Switchyard } from '../../src/index.js'
import { sqlite } from '../../src/engines/sqlite/index.js'

/** Creates each tenant's attached file with an `orders` table holding one row tagged with its key. */
async function provisionTenantFiles(sy: Switchyard, keys: readonly string[], orders: string): Promise<void> {
  for (const t of keys) {
    const lease = await sy.pools.acquire('default')
    try {
      await lease.pool.createSchema(`tenant_${t}`)
    } finally {
      lease.release()
    }
    await withRouteContext({ tenant: t }, async () => {
      await sy.write(orders)
      await sy.write('insert into orders (tag) values (?)', [t])
    })
  }
}

// SQLite: each tenant's schema is an attached database file, reached only by qualified names.
describe('schema routing on SQLite attached files', () => {
  let dir: string
  let file: string
  const routers = [{ schemaFor: (ctx: { tenant?: string }) => (ctx.tenant ? `tenant_${ctx.tenant}` : undefined) }]
  const open = () => createSwitchyard({ databases: { default: sqlite({ filename: file }) }, routers })
  let sy: Switchyard

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sy-attached-'))
    file = join(dir, 'main.sqlite')
    sy = open()
    await sy.write(`create table orders (id integer primary key, tag text not null unique)`)
    await sy.write(`insert into orders (tag) values ('main')`)
    await provisionTenantFiles(sy, ['a', 'b'], 'create table orders (id integer primary key, tag text not null unique)')
  })
  afterAll(async () => {
    await sy?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it("reads and writes each tenant's own file, never main's", async () => {
    for (const t of ['a', 'b']) {
      const { rows } = await withRouteContext({ tenant: t }, () => sy.read<{ tag: string }>('select tag from orders'))
      expect(rows).toEqual([{ tag: t }])
    }
    expect((await sy.read<{ tag: string }>('select tag from orders')).rows).toEqual([{ tag: 'main' }])
  })

  it('keeps compound operations and transactions in the tenant file', async () => {
    const made = await withRouteContext({ tenant: 'a' }, () => sy.getOrCreate<{ tag: string }>('orders', { tag: 'a-extra' }))
    expect(made.created).toBe(true)
    await withRouteContext({ tenant: 'a' }, () => sy.transaction((tx) => tx.write(`insert into orders (tag) values ('a-tx')`)))
    const main = await sy.read<{ tag: string }>('select tag from orders order by tag')
    expect(main.rows).toEqual([{ tag: 'main' }])
    const a = await withRouteContext({ tenant: 'a' }, () => sy.read<{ tag: string }>('select tag from orders order by tag'))
    expect(a.rows.map((r) => r.tag)).toEqual(['a', 'a-extra', 'a-tx'])
  })

  it('refuses a statement naming another tenant', async () => {
    await expect(withRouteContext({ tenant: 'a' }, () => sy.read('select * from tenant_b.orders'))).rejects.toBeInstanceOf(TenantIsolationError)
  })

  it("refuses last_insert_rowid() (the shared connection's, maybe another tenant's); an INSERT's result carries its own rowid, and nothing else reports one", async () => {
    const b = await withRouteContext({ tenant: 'b' }, () => sy.write(`insert into orders (tag) values ('b-rowid')`))
    const [row] = (await withRouteContext({ tenant: 'b' }, () => sy.read<{ id: number }>(`select id from orders where tag = 'b-rowid'`))).rows
    expect(b.insertId).toBe(BigInt(row!.id))
    // Unguarded, a statement on tenant A's file runs on the connection B just used and answers B's rowid.
    const lease = await sy.pools.acquire('default')
    try {
      expect((await lease.pool.query<{ id: number }>('select last_insert_rowid() as id from tenant_a.orders limit 1')).rows[0]!.id).toBe(row!.id)
    } finally {
      lease.release()
    }
    await expect(withRouteContext({ tenant: 'a' }, () => sy.read('select last_insert_rowid()'))).rejects.toThrow(/last_insert_rowid\(\) returns the last rowid/)
    for (const counter of ['changes', 'total_changes']) {
      await expect(withRouteContext({ tenant: 'a' }, () => sy.read(`select ${counter}()`))).rejects.toThrow(new RegExp(`${counter}\\(\\) counts rows changed`))
    }
    // An UPDATE, and an INSERT that inserted nothing, report no id (the connection's last would be B's).
    expect((await withRouteContext({ tenant: 'a' }, () => sy.write(`update orders set tag = tag where tag = 'a'`))).insertId).toBeUndefined()
    expect((await withRouteContext({ tenant: 'a' }, () => sy.write(`insert into orders (tag) values ('a') on conflict do nothing`))).insertId).toBeUndefined()
    await withRouteContext({ tenant: 'b' }, () => sy.write(`delete from orders where tag = 'b-rowid'`))
  })

  it('re-attaches tenant files when the database is opened again', async () => {
    await sy.close()
    sy = open()
    const { rows } = await withRouteContext({ tenant: 'b' }, () => sy.read<{ tag: string }>('select tag from orders'))
    expect(rows).toEqual([{ tag: 'b' }])
  })
})

describe('SQLite schema files beyond the attachment limit', () => {
  let dir: string
  let file: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sy-attached-many-'))
    file = join(dir, 'main.sqlite')
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('routes to 30 tenant files with at most 10 attached, and finds a file another process created later', async () => {
    const routers = [{ schemaFor: (ctx: { tenant?: string }) => (ctx.tenant ? `tenant_${ctx.tenant}` : undefined) }]
    const sy = createSwitchyard({ databases: { default: sqlite({ filename: file }) }, routers })
    const other = sqlite({ filename: file }).createPool()
    try {
      const tenants = Array.from({ length: 30 }, (_, i) => `m${i}`)
      for (const t of tenants) {
        const lease = await sy.pools.acquire('default')
        try {
          await lease.pool.createSchema(`tenant_${t}`)
        } finally {
          lease.release()
        }
        await withRouteContext({ tenant: t }, () => sy.write('create table orders (id integer primary key, tag text not null)'))
        await withRouteContext({ tenant: t }, () => sy.write('insert into orders (tag) values (?)', [t]))
      }
      for (const t of [...tenants].reverse()) {
        const { rows } = await withRouteContext({ tenant: t }, () => sy.read<{ tag: string }>('select o.tag from orders o'))
        expect(rows).toEqual([{ tag: t }])
      }
      // Naming a schema file runs the statement where schema files are attached: at most 10 there.
      const attached = await sy.on('default').read<{ n: number }>(`select (select count(*) from pragma_database_list where name like 'tenant_%') as n from "tenant_m0".orders`)
      expect(attached.rows[0]!.n).toBeGreaterThan(1)
      expect(attached.rows[0]!.n).toBeLessThanOrEqual(10)
      // And none on the connection that runs unscoped statements.
      const home = await sy.on('default').read<{ n: number }>(`select count(*) as n from pragma_database_list where name like 'tenant_%'`)
      expect(home.rows[0]!.n).toBe(0)

      // Asked for before it exists, then created through another pool: found on the next statement.
      await expect(withRouteContext({ tenant: 'late' }, () => sy.read('select tag from orders'))).rejects.toThrow(/no such table/)
      await other.createSchema('tenant_late')
      await other.query(`create table "tenant_late".orders (id integer primary key, tag text not null)`)
      await other.query(`insert into "tenant_late".orders (tag) values ('late')`)
      const late = await withRouteContext({ tenant: 'late' }, () => sy.read<{ tag: string }>('select tag from orders'))
      expect(late.rows).toEqual([{ tag: 'late' }])
    } finally {
      await other.close()
      await sy.close()
    }
  })
})

// An unscoped statement (no route context: a background job) naming a table that is not in
// main must never be resolved by SQLite into an attached tenant file — which one would depend
// on which tenants were asked for recently.
describe('SQLite: unscoped statements never resolve into a tenant file', () => {
  let dir: string
  let file: string
  const routers = [{ schemaFor: (ctx: { tenant?: string }) => (ctx.tenant ? `tenant_${ctx.tenant}` : undefined) }]
  let sy: Switchyard

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sy-unscoped-'))
    file = join(dir, 'main.sqlite')
    sy = createSwitchyard({ databases: { default: sqlite({ filename: file }) }, routers })
    await sy.write('create table jobs (id integer primary key, name text not null)')
    await sy.write(`insert into jobs (name) values ('nightly')`)
    await provisionTenantFiles(sy, ['a', 'b'], 'create table orders (id integer primary key, tag text not null)')
  })
  afterAll(async () => {
    await sy?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('fails with "no such table" whichever tenants were asked for last', async () => {
    for (const order of [['a', 'b'], ['b', 'a'], ['b'], ['a']]) {
      for (const t of order) {
        const { rows } = await withRouteContext({ tenant: t }, () => sy.read<{ tag: string }>('select tag from orders'))
        expect(rows).toEqual([{ tag: t }])
      }
      await expect(sy.read('select * from orders')).rejects.toThrow(/no such table: orders/)
      await expect(sy.write(`insert into orders (tag) values ('leak')`)).rejects.toThrow(/no such table: orders/)
      await expect(sy.read('select o.tag from jobs j join orders o on 1 = 1')).rejects.toThrow(/no such table: orders/)
    }
    // Main's own tables and explicitly qualified tenant tables still work unscoped.
    expect((await sy.read<{ name: string }>('select name from jobs')).rows).toEqual([{ name: 'nightly' }])
    expect((await sy.read<{ tag: string }>('select tag from "tenant_b".orders')).rows).toEqual([{ tag: 'b' }])
    await expect(sy.read('select * from orders')).rejects.toThrow(/no such table: orders/)
    // No tenant row was written by the refused insert.
    for (const t of ['a', 'b']) {
      expect((await withRouteContext({ tenant: t }, () => sy.read<{ tag: string }>('select tag from orders'))).rows).toEqual([{ tag: t }])
    }
  })

  it('inside an unscoped transaction that named a tenant file, an unqualified name still does not resolve into it', async () => {
    const lease = await sy.pools.acquire('default')
    try {
      const pool = lease.pool
      const seen = await pool.transaction(async (tx) => {
        const named = await tx.query<{ tag: string }>('select tag from "tenant_a".orders')
        const unqualified = await tx.query('select * from orders').catch((e: unknown) => e)
        const jobs = await tx.query<{ name: string }>('select name from jobs')
        return { named: named.rows, unqualified, jobs: jobs.rows }
      })
      expect(seen.named).toEqual([{ tag: 'a' }])
      expect(String(seen.unqualified)).toMatch(/no such table/)
      expect(seen.jobs).toEqual([{ name: 'nightly' }])
      // Detached again after the transaction: the plain unscoped path.
      await expect(pool.query('select * from orders')).rejects.toThrow(/no such table: orders/)
      // Writes to a named tenant file in an unscoped transaction still commit.
      await pool.transaction((tx) => tx.query(`insert into "tenant_a".orders (tag) values ('a-tx')`))
      expect((await pool.query<{ tag: string }>('select tag from "tenant_a".orders order by id')).rows.map((r) => r.tag)).toEqual(['a', 'a-tx'])
      await pool.query(`delete from "tenant_a".orders where tag = 'a-tx'`)
    } finally {
      lease.release()
    }
  })

  it('in-memory databases: schemas live on the one connection, and an unscoped statement is still refused', async () => {
    const pool = sqlite({ filename: ':memory:' }).createPool()
    try {
      await pool.query('create table jobs (id integer primary key)')
      for (const t of ['a', 'b']) {
        await pool.createSchema(`tenant_${t}`)
        await pool.query(`create table "tenant_${t}".orders (id integer primary key, tag text not null)`)
        await pool.query(`insert into "tenant_${t}".orders (tag) values (?)`, [t])
      }
      await expect(pool.query('select * from orders')).rejects.toThrow(/no such table/)
      await expect(pool.query('select * from orders where id = ?', [1])).rejects.toThrow(/no such table/)
      expect((await pool.query<{ tag: string }>('select tag from "tenant_b".orders')).rows).toEqual([{ tag: 'b' }])
      expect((await pool.query('select * from jobs')).rows).toEqual([])
      await expect(pool.transaction((tx) => tx.query('select * from orders'))).rejects.toThrow(/no such table/)
    } finally {
      await pool.close()
    }
  })
})
