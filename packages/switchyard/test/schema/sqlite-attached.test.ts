import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSwitchyard, TenantIsolationError, withRouteContext, type Switchyard } from '../../src/index.js'
import { sqlite } from '../../src/engines/sqlite/index.js'

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
    for (const t of ['a', 'b']) {
      const lease = await sy.pools.acquire('default')
      try {
        await lease.pool.createSchema(`tenant_${t}`)
      } finally {
        lease.release()
      }
      await withRouteContext({ tenant: t }, async () => {
        await sy.write('create table orders (id integer primary key, tag text not null unique)')
        await sy.write('insert into orders (tag) values (?)', [t])
      })
    }
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
      const attached = await sy.on('default').read<{ n: number }>(`select count(*) as n from pragma_database_list where name like 'tenant_%'`)
      expect(attached.rows[0]!.n).toBeLessThanOrEqual(10)

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
