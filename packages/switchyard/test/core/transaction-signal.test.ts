import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSwitchyard, withRouteContext, QueryCancelledError, type Switchyard } from '../../src/index.js'
import { engines } from '../engines/engines.js'

// A caller's AbortSignal reaches statements inside `sy.transaction` as it does routed ones:
// an aborted statement never runs, a running one is cancelled on the server where the engine
// can, and the transaction rolls back.

for (const engine of engines) {
  describe.skipIf(!engine.available)(`signal inside sy.transaction on ${engine.name}`, () => {
    let made: Awaited<ReturnType<typeof engine.make>>
    let sy: Switchyard
    const p = (n: number) => (engine.name === 'postgres' || engine.name === 'pglite' ? `$${n}` : '?')
    const insert = `insert into items (id, name) values (${p(1)}, ${p(2)})`
    const ids = async () => (await sy.read<{ id: number }>('select id from items order by id')).rows.map((r) => Number(r.id))

    beforeAll(async () => {
      made = await engine.make()
      sy = createSwitchyard({ databases: { default: made.spec } })
      await sy.write('create table items (id int primary key, name varchar(40) not null)')
    })
    afterAll(async () => {
      await sy?.close()
      await made?.cleanup()
    })

    it('an aborted signal stops the statement and rolls the transaction back', async () => {
      const controller = new AbortController()
      controller.abort(new Error('user went away'))
      const err = await sy
        .transaction(async (tx) => {
          await tx.write(insert, [1, 'before'])
          await tx.write(insert, [2, 'never'], { signal: controller.signal })
        })
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(QueryCancelledError)
      expect(err).toMatchObject({ code: 'QUERY_CANCELLED', cause: { message: 'user went away' } })
      expect(await ids()).toEqual([])
    })

    it('read and query take it too, and a savepoint inside the transaction', async () => {
      const aborted = AbortSignal.abort()
      await expect(sy.transaction((tx) => tx.read('select 1 as one', [], { signal: aborted }))).rejects.toBeInstanceOf(QueryCancelledError)
      await expect(sy.transaction((tx) => tx.query('select 1 as one', [], { signal: aborted, kind: 'read' }))).rejects.toBeInstanceOf(QueryCancelledError)
      const err = await sy
        .transaction(async (tx) => {
          await tx.write(insert, [3, 'outer'])
          await tx.transaction((inner) => inner.write(insert, [4, 'inner'], { signal: aborted })).catch((e: unknown) => {
            // The savepoint rolled back alone; the outer transaction carries on and commits.
            expect(e).toBeInstanceOf(QueryCancelledError)
          })
        })
        .catch((e: unknown) => e)
      expect(err).toBeUndefined()
      expect(await ids()).toEqual([3])
      await sy.write('delete from items')
    })

    it('a live signal that never fires changes nothing', async () => {
      const signal = new AbortController().signal
      await sy.transaction(async (tx) => {
        await tx.write(insert, [5, 'kept'], { signal })
        expect((await tx.read<{ id: number }>('select id from items', [], { signal })).rows.map((r) => Number(r.id))).toEqual([5])
      })
      expect(await ids()).toEqual([5])
      await sy.write('delete from items')
    })

    // Only engines that can interrupt a running statement (PGlite and SQLite run it to its end).
    const slow = engine.slowStatement
    if (slow) it('a running statement is cancelled on the server, the transaction rolls back and the pool still works', async () => {
      const controller = new AbortController()
      const started = Date.now()
      setTimeout(() => controller.abort(), 200)
      const err = await sy
        .transaction(async (tx) => {
          await tx.write(insert, [6, 'before'])
          await tx.read(slow(5), [], { signal: controller.signal })
        })
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(QueryCancelledError)
      // Five seconds of sleep, stopped after about 0.2: the statement did not run to its end.
      expect(Date.now() - started).toBeLessThan(3000)
      expect(await ids()).toEqual([])
      expect((await sy.read<{ one: number }>('select 1 as one')).rows.map((r) => Number(r.one))).toEqual([1])
    })
  })
}

const pg = engines.find((e) => e.name === 'postgres')!

describe.skipIf(!pg.available)('signal inside a schema-routed sy.transaction on postgres', () => {
  let made: Awaited<ReturnType<typeof pg.make>>
  let sy: Switchyard

  beforeAll(async () => {
    made = await pg.make()
    sy = createSwitchyard({
      databases: { default: made.spec },
      routers: [{ schemaFor: (ctx) => (ctx.tenant !== undefined ? `tenant_${ctx.tenant}` : undefined) }],
    })
    await sy.write('create schema tenant_acme')
    await sy.write('create table tenant_acme.items (id int primary key)')
  })
  afterAll(async () => {
    await sy?.close()
    await made?.cleanup()
  })

  it('the schema applier passes the signal on: the tenant statement is cancelled and its write rolled back', async () => {
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 200)
    const started = Date.now()
    const err = await withRouteContext({ tenant: 'acme' }, () =>
      sy.transaction(async (tx) => {
        await tx.write('insert into items (id) values (1)')
        await tx.read('select pg_sleep(5), count(*) from items', [], { signal: controller.signal })
      }),
    ).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(QueryCancelledError)
    expect(Date.now() - started).toBeLessThan(3000)
    const left = await withRouteContext({ tenant: 'acme' }, () => sy.read('select id from items'))
    expect(left.rows).toEqual([])
  })
})
