import { sql, type Generated } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSwitchyard, CrossDatabaseRelationError, type RouteDecision, type Switchyard } from '../../src/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { createTempPgDatabase, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'

const ok = await serviceAvailable('postgres')

interface DB {
  items: { id: Generated<number>; name: string }
  audit: { id: Generated<number>; note: string }
}

describe.skipIf(!ok)('routed Kysely on real PostgreSQL', () => {
  let primary: TempDatabase
  let replica: TempDatabase
  let auditDb: TempDatabase
  let sy: Switchyard
  const decisions: RouteDecision[] = []

  beforeAll(async () => {
    ;[primary, replica, auditDb] = await Promise.all([createTempPgDatabase(), createTempPgDatabase(), createTempPgDatabase()])
    sy = createSwitchyard({
      databases: {
        default: postgres({ connectionString: primary.connectionString, max: 3 }),
        replica: postgres({ connectionString: replica.connectionString, max: 3 }),
        audit: postgres({ connectionString: auditDb.connectionString, max: 2 }),
      },
      models: { audit: { database: 'audit' } },
      routers: [{ dbForRead: (m) => (m.table === 'audit' ? undefined : 'replica'), dbForWrite: (m) => (m.table === 'audit' ? undefined : 'default') }],
      onRoute: (d) => decisions.push(d),
    })
    for (const alias of ['default', 'replica', 'audit']) {
      await sy.on(alias).write('create table items (id serial primary key, name text not null)')
      await sy.on(alias).write('create table audit (id serial primary key, note text)')
    }
    await sy.on('default').write(`insert into items (name) values ('on-primary')`)
  })
  afterAll(async () => {
    await sy?.close()
    await Promise.all([primary?.drop(), replica?.drop(), auditDb?.drop()])
  })

  it('selects read from the replica; inserts, updates and deletes write to the primary', async () => {
    const db = sy.kysely<DB>()
    expect(await db.selectFrom('items').selectAll().execute()).toEqual([])
    expect(decisions.at(-1)).toMatchObject({ alias: 'replica', kind: 'read', model: { table: 'items' } })
    const inserted = await db.insertInto('items').values({ name: 'k' }).returning('name').executeTakeFirstOrThrow()
    expect(inserted.name).toBe('k')
    expect(decisions.at(-1)).toMatchObject({ alias: 'default', kind: 'write' })
    const upd = await db.updateTable('items').set({ name: 'k2' }).where('name', '=', 'k').executeTakeFirst()
    expect(upd.numUpdatedRows).toBe(1n)
    await db.deleteFrom('items').where('name', '=', 'k2').execute()
    expect(decisions.at(-1)).toMatchObject({ alias: 'default', kind: 'write' })
  })

  it('a locking select and a select with a data-modifying CTE write', async () => {
    const db = sy.kysely<DB>()
    const locked = await db.selectFrom('items').select('name').forUpdate().execute()
    expect(locked).toEqual([{ name: 'on-primary' }])
    const viaCte = await db
      .with('u', (q) => q.updateTable('items').set({ name: 'on-primary' }).returning('name'))
      .selectFrom('u')
      .selectAll()
      .execute()
    expect(viaCte).toEqual([{ name: 'on-primary' }])
    expect(decisions.at(-1)).toMatchObject({ alias: 'default', kind: 'write' })
  })

  it('raw SQL is classified by parsing', async () => {
    const db = sy.kysely<DB>()
    await sql`select 1`.execute(db)
    expect(decisions.at(-1)).toMatchObject({ alias: 'replica', kind: 'read' })
    await sql`create temp table scratch (x int)`.execute(db)
    expect(decisions.at(-1)).toMatchObject({ alias: 'default', kind: 'write' })
  })

  it('transactions run on the write alias and roll back on throw', async () => {
    const db = sy.kysely<DB>()
    const seen = await db.transaction().execute(async (trx) => {
      await trx.insertInto('items').values({ name: 'in-tx' }).execute()
      return trx.selectFrom('items').select('name').where('name', '=', 'in-tx').execute()
    })
    expect(seen).toEqual([{ name: 'in-tx' }])
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.insertInto('items').values({ name: 'doomed' }).execute()
        throw new Error('abort')
      }),
    ).rejects.toThrow('abort')
    const left = await sy.on('default').read(`select name from items where name in ('in-tx', 'doomed')`)
    expect(left.rows).toEqual([{ name: 'in-tx' }])
  })

  it('a join across aliases fails before reaching a database unless allowRelation permits it', async () => {
    const db = sy.kysely<DB>()
    const before = decisions.length
    const err = await db
      .selectFrom('items')
      .innerJoin('audit', 'audit.id', 'items.id')
      .selectAll()
      .execute()
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CrossDatabaseRelationError)
    expect((err as Error).message).toContain(`'audit' (on 'audit')`)
    expect(decisions.length).toBe(before)

    const permissive = createSwitchyard({
      databases: { default: postgres({ connectionString: primary.connectionString, max: 1 }) },
      models: { audit: { database: 'default' } },
      routers: [{ allowRelation: () => true }],
    })
    try {
      const rows = await permissive.kysely<DB>().selectFrom('items').innerJoin('audit', 'audit.id', 'items.id').selectAll().execute()
      expect(rows).toEqual([])
    } finally {
      await permissive.close()
    }
  })

  it('a model on another alias inside a Kysely transaction fails instead of running on the transaction database', async () => {
    const db = sy.kysely<DB>()
    const err = await db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('items').values({ name: 'tx-before-audit' }).execute()
        // 'audit' lives on the audit alias; the transaction is on default.
        await trx.insertInto('audit').values({ note: 'must not land on default' }).execute()
      })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CrossDatabaseRelationError)
    expect((err as Error).message).toContain(`'audit' (on 'audit')`)
    // The whole transaction rolled back, and nothing reached either database's audit table.
    expect((await sy.on('default').read(`select count(*)::int as n from items where name = 'tx-before-audit'`)).rows).toEqual([{ n: 0 }])
    expect((await sy.on('default').read('select count(*)::int as n from audit')).rows).toEqual([{ n: 0 }])
    expect((await sy.on('audit').read('select count(*)::int as n from audit')).rows).toEqual([{ n: 0 }])

    // Outside a transaction the same insert routes to its own alias.
    await db.insertInto('audit').values({ note: 'routed' }).execute()
    expect((await sy.on('audit').read('select note from audit')).rows).toEqual([{ note: 'routed' }])
  })

  it('a router may forbid a relation even on one alias', async () => {
    const strict = createSwitchyard({
      databases: { default: postgres({ connectionString: primary.connectionString, max: 1 }) },
      routers: [{ allowRelation: (a, b) => !(a.table === 'items' && b.table === 'audit') }],
    })
    try {
      await expect(strict.kysely<DB>().selectFrom('items').innerJoin('audit', 'audit.id', 'items.id').selectAll().execute()).rejects.toBeInstanceOf(CrossDatabaseRelationError)
    } finally {
      await strict.close()
    }
  })
})
