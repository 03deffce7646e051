import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRouteContext, createSwitchyard, detached, withRouteContext, type DatabaseRouter, type RouteDecision, type Switchyard } from '../../src/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { createTempPgDatabase, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'

const ok = await serviceAvailable('postgres')

const SCHEMA = `create table items (id serial primary key, name text not null unique, qty int not null default 0)`

describe.skipIf(!ok)('routing on real PostgreSQL: primary full, replica empty', () => {
  let primary: TempDatabase
  let replica: TempDatabase
  let other: TempDatabase
  const decisions: RouteDecision[] = []
  const replicas: DatabaseRouter = { dbForRead: () => 'replica', dbForWrite: () => 'default' }
  let sy: Switchyard

  const make = (routers: DatabaseRouter[], extra: Partial<Parameters<typeof createSwitchyard>[0]> = {}) =>
    createSwitchyard({
      databases: {
        default: postgres({ connectionString: primary.connectionString, max: 4 }),
        replica: postgres({ connectionString: replica.connectionString, max: 4 }),
        other: postgres({ connectionString: other.connectionString, max: 2 }),
      },
      routers,
      ...extra,
    })

  beforeAll(async () => {
    ;[primary, replica, other] = await Promise.all([createTempPgDatabase(), createTempPgDatabase(), createTempPgDatabase()])
    const setup = make([])
    for (const alias of ['default', 'replica', 'other']) await setup.on(alias).write(SCHEMA)
    await setup.on('default').write(`insert into items (name, qty) values ('apple', 3), ('pear', 5)`)
    await setup.on('other').write(`insert into items (name, qty) values ('other-only', 1)`)
    await setup.close()
    sy = make([replicas], { onRoute: (d) => decisions.push(d) })
  })
  afterAll(async () => {
    await sy?.close()
    await Promise.all([primary, replica, other].map((d) => d?.drop()))
  })

  it('reads run on the replica (empty), writes on the primary (full)', async () => {
    const read = await sy.read('select * from items')
    expect(read.alias).toBe('replica')
    expect(read.rows).toEqual([])
    const write = await sy.write(`update items set qty = qty + 1 where name = 'apple' returning qty`)
    expect(write.alias).toBe('default')
    expect(write.rows).toEqual([{ qty: 4 }])
    expect(write.rowCount).toBe(1)
  })

  it('query() classifies by parsing: a plain select reads, a data-modifying CTE or FOR UPDATE writes', async () => {
    expect((await sy.query('select count(*)::int as n from items')).alias).toBe('replica')
    const cte = await sy.query(`with u as (update items set qty = qty where name = 'pear' returning name) select * from u`)
    expect(cte.alias).toBe('default')
    expect(cte.rows).toEqual([{ name: 'pear' }])
    expect((await sy.query('select * from items for update')).alias).toBe('default')
    expect((await sy.query(`select nextval('items_id_seq') is not null as ok`)).alias).toBe('default')
  })

  it('on(alias) is a hard override that beats every router', async () => {
    const r = await sy.on('default').read('select name from items order by name')
    expect(r.alias).toBe('default')
    expect(r.rows.map((x) => x.name)).toEqual(['apple', 'pear'])
    expect(decisions.at(-1)).toMatchObject({ alias: 'default', kind: 'read', reason: 'override' })
  })

  it('the first router that answers wins; changing the order changes the answer', async () => {
    const toOther: DatabaseRouter = { dbForRead: () => 'other' }
    const a = make([toOther, replicas])
    const b = make([replicas, toOther])
    try {
      expect((await a.read('select name from items')).rows).toEqual([{ name: 'other-only' }])
      expect((await b.read('select name from items')).alias).toBe('replica')
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  it('a router lacking a method, or answering undefined, is skipped', async () => {
    const writesOnly: DatabaseRouter = { dbForWrite: () => 'other' }
    const passes: DatabaseRouter = { dbForRead: () => undefined }
    const s = make([writesOnly, passes, replicas])
    try {
      expect((await s.read('select 1')).alias).toBe('replica')
      expect((await s.write('select 1')).alias).toBe('other')
    } finally {
      await s.close()
    }
  })

  it('static defaults: the model database, else its module database, else default', async () => {
    const seen: RouteDecision[] = []
    const s = createSwitchyard({
      databases: {
        default: postgres({ connectionString: primary.connectionString, max: 1 }),
        other: postgres({ connectionString: other.connectionString, max: 1 }),
      },
      models: { pinned: { database: 'other' }, billing_items: { module: 'billing' }, billing_ledger: { module: 'billing', database: 'default' }, plain: {} },
      modules: { billing: { database: 'other' } },
      onRoute: (d) => seen.push(d),
    })
    try {
      expect((await s.read('select 1', [], { model: 'pinned' })).alias).toBe('other')
      expect((await s.read('select 1', [], { model: 'billing_items' })).alias).toBe('other')
      // The model's own database beats its module's.
      expect((await s.read('select 1', [], { model: 'billing_ledger' })).alias).toBe('default')
      expect((await s.read('select 1', [], { model: 'plain' })).alias).toBe('default')
      expect((await s.read('select 1')).alias).toBe('default')
      expect(seen.every((d) => d.reason === 'static')).toBe(true)
    } finally {
      await s.close()
    }
  })

  it('an unknown alias fails at once with UnknownAliasError naming it and the known aliases', async () => {
    const s = make([{ dbForRead: () => 'nope' }])
    try {
      const err = await s.read('select 1').catch((e: unknown) => e)
      expect(err).toMatchObject({ name: 'UnknownAliasError', code: 'UNKNOWN_ALIAS', alias: 'nope' })
      expect((err as Error).message).toContain(`'nope'`)
      expect((err as Error).message).toContain(`'replica'`)
    } finally {
      await s.close()
    }
  })

  it('transactions run entirely on the write alias, commit on resolve and roll back on throw', async () => {
    const value = await sy.transaction(async (tx) => {
      await tx.write(`insert into items (name) values ('tx-kept')`)
      const inside = await tx.read(`select name from items where name = 'tx-kept'`)
      expect(inside.alias).toBe('default')
      expect(inside.rows).toHaveLength(1)
      return 42
    })
    expect(value).toBe(42)
    await expect(
      sy.transaction(async (tx) => {
        await tx.write(`insert into items (name) values ('tx-rolled-back')`)
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    const { rows } = await sy.on('default').read(`select name from items where name like 'tx-%' order by name`)
    expect(rows).toEqual([{ name: 'tx-kept' }])
    expect(decisions.some((d) => d.reason === 'transaction' && d.alias === 'default')).toBe(true)
  })

  it('getOrCreate checks the primary, not the empty replica: no duplicate, no error', async () => {
    const first = await sy.getOrCreate<{ name: string; qty: number }>('items', { name: 'apple' }, { qty: 99 })
    expect(first.created).toBe(false)
    expect(first.row.qty).toBe(4)
    const made = await sy.getOrCreate<{ name: string; qty: number }>('items', { name: 'plum' }, { qty: 7 })
    expect(made).toMatchObject({ created: true, row: { name: 'plum', qty: 7 } })
    expect(decisions.at(-1)).toMatchObject({ reason: 'compound', alias: 'default', kind: 'write' })
    const { rows } = await sy.on('default').read(`select count(*)::int as n from items where name in ('apple', 'plum')`)
    expect(rows).toEqual([{ n: 2 }])
  })

  it('getOrCreate under 20 concurrent callers for one key creates exactly one row', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => sy.getOrCreate('items', { name: 'race' }, { qty: 1 })))
    expect(results.filter((r) => r.created)).toHaveLength(1)
    const { rows } = await sy.on('default').read(`select count(*)::int as n from items where name = 'race'`)
    expect(rows).toEqual([{ n: 1 }])
  })

  it('updateOrCreate updates an existing row or creates a missing one', async () => {
    const upd = await sy.updateOrCreate<{ qty: number }>('items', { name: 'pear' }, { qty: 50 })
    expect(upd).toMatchObject({ created: false, row: { qty: 50 } })
    const made = await sy.updateOrCreate<{ qty: number }>('items', { name: 'kiwi' }, { qty: 2 })
    expect(made).toMatchObject({ created: true, row: { qty: 2 } })
    const concurrent = await Promise.all(Array.from({ length: 10 }, (_, i) => sy.updateOrCreate<{ qty: number }>('items', { name: 'fig' }, { qty: i })))
    expect(concurrent.filter((r) => r.created)).toHaveLength(1)
  })

  it('sticky reads: after a write in a context, its reads go to the primary; another context is unaffected', async () => {
    await withRouteContext({ tenant: 'acme' }, async () => {
      expect((await sy.read('select 1')).alias).toBe('replica')
      await sy.write(`update items set qty = qty where name = 'apple'`)
      const after = await sy.read(`select qty from items where name = 'apple'`)
      expect(after.alias).toBe('default')
      expect(decisions.at(-1)?.reason).toBe('sticky')
    })
    await withRouteContext({ tenant: 'acme' }, async () => {
      expect((await sy.read('select 1')).alias).toBe('replica')
    })
    // Outside any scope nothing sticks (there is no request to stick to).
    await sy.write('select 1')
    expect((await sy.read('select 1')).alias).toBe('replica')
  })

  it('stickiness belongs to the request scope, not to the context object: a shared context carries no writes between requests', async () => {
    const shared = createRouteContext({ tenant: 'acme' })
    await withRouteContext(shared, async () => {
      await sy.write('select 1')
      expect((await sy.read('select 1')).alias).toBe('default')
      // A nested scope is still the same request: it keeps the stickiness.
      await withRouteContext({ tenant: 'acme', attributes: { step: 'nested' } }, async () => {
        expect((await sy.read('select 1')).alias).toBe('default')
      })
      // A detached job is not the request.
      await detached(async () => {
        expect((await sy.read('select 1')).alias).toBe('replica')
      })
    })
    // The next request reusing the same frozen context object starts clean.
    await withRouteContext(shared, async () => {
      expect((await sy.read('select 1')).alias).toBe('replica')
    })
  })

  it('a router or onRoute that throws rejects the returned promise instead of throwing', async () => {
    const boom: DatabaseRouter = {
      dbForRead: () => {
        throw new Error('router exploded')
      },
    }
    const s = make([boom], {
      onRoute: (d) => {
        if (d.kind === 'write') throw new Error('listener exploded')
      },
    })
    try {
      let read: Promise<unknown> | undefined
      let write: Promise<unknown> | undefined
      let query: Promise<unknown> | undefined
      expect(() => {
        read = s.read('select 1')
        write = s.write('select 1')
        query = s.query('select 2')
      }).not.toThrow()
      await expect(read).rejects.toThrow('router exploded')
      await expect(write).rejects.toThrow('listener exploded')
      await expect(query).rejects.toThrow('router exploded')
      await expect(s.on('default').write('select 1')).rejects.toThrow('listener exploded')
    } finally {
      await s.close()
    }
  })

  it('close() waits for statements queued on a configured alias, then refuses new ones', async () => {
    const s = createSwitchyard({ databases: { default: postgres({ connectionString: primary.connectionString, max: 1, connectTimeoutMs: 0 }) } })
    await s.read('select 1') // the pool is open: statements take the lease-free path
    const queued = Array.from({ length: 5 }, (_, i) => s.read<{ n: number }>('select $1::int as n, pg_sleep(0.05)', [i]))
    const closed = s.close()
    const results = await Promise.all(queued)
    expect(results.map((r) => r.rows[0]?.n)).toEqual([0, 1, 2, 3, 4])
    await closed
    await expect(s.read('select 1')).rejects.toMatchObject({ code: 'POOL_CLOSED' })
  })

  it('stickyAfterWrite: false keeps reads on the replica', async () => {
    const s = make([replicas], { stickyAfterWrite: false })
    try {
      await withRouteContext({ tenant: 'x' }, async () => {
        await s.write('select 1')
        expect((await s.read('select 1')).alias).toBe('replica')
      })
    } finally {
      await s.close()
    }
  })
})
