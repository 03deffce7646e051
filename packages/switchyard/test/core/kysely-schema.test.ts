import { sql, type Generated } from 'kysely'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createSwitchyard, QueryError, SchemaRouter, TenantIsolationError, UnsupportedError, withRouteContext, type DatabaseRouter, type RouteDecision, type Switchyard } from '../../src/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { createTempPgDatabase, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'

const ok = await serviceAvailable('postgres')

interface DB {
  orders: { id: Generated<number>; tag: string; country: string }
  countries: { code: string; name: string }
}

const tenantSchema: DatabaseRouter = { schemaFor: (ctx) => (ctx.tenant ? `tenant_${ctx.tenant}` : undefined) }

describe.skipIf(!ok)('Kysely under schema routing, and per-router strategies, on real PostgreSQL', () => {
  let db: TempDatabase
  let sy: Switchyard
  const decisions: RouteDecision[] = []

  beforeAll(async () => {
    db = await createTempPgDatabase()
    const setup = createSwitchyard({ databases: { default: postgres({ connectionString: db.connectionString, max: 1 }) } })
    await setup.write(`create schema shared; create table shared.countries (code text primary key, name text); insert into shared.countries values ('fr', 'France')`)
    await setup.write(`create table public.orders (id serial primary key, tag text, country text); insert into public.orders (tag, country) values ('PUBLIC', 'fr')`)
    for (const t of ['a', 'b']) {
      await setup.write(`create schema tenant_${t}; create table tenant_${t}.orders (id serial primary key, tag text, country text)`)
      await setup.write(`insert into tenant_${t}.orders (tag, country) values ($1, 'fr')`, [t])
    }
    await setup.close()
    sy = createSwitchyard({
      databases: { default: postgres({ connectionString: db.connectionString, max: 3 }) },
      routers: [tenantSchema],
      schemaRouting: { sharedTables: { countries: 'shared' } },
      onRoute: (d) => decisions.push(d),
    })
  })
  afterEach(() => {
    vi.restoreAllMocks()
  })
  afterAll(async () => {
    await sy?.close()
    await db?.drop()
  })

  it('a plain Kysely query is qualified from its tree and runs without a parse', async () => {
    const parsePath = vi.spyOn(SchemaRouter.prototype, 'run')
    const k = sy.kysely<DB>()
    for (const t of ['a', 'b']) {
      const rows = await withRouteContext({ tenant: t }, () =>
        k.selectFrom('orders').innerJoin('countries', 'countries.code', 'orders.country').select(['orders.tag', 'countries.name']).execute(),
      )
      expect(rows).toEqual([{ tag: t, name: 'France' }])
      expect(decisions.at(-1)).toMatchObject({ schema: `tenant_${t}`, kind: 'read' })
    }
    expect(parsePath).not.toHaveBeenCalled()
  })

  it('a tree naming another tenant schema is refused before it reaches the database', async () => {
    const k = sy.kysely<DB>()
    const before = decisions.length
    const err = await withRouteContext({ tenant: 'a' }, () => k.withSchema('tenant_b').selectFrom('orders').selectAll().execute()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TenantIsolationError)
    expect((err as Error).message).toContain(`'tenant_b'`)
    expect(decisions.length).toBe(before)
  })

  it('a CTE named like the table a statement writes cannot hide an unqualified target', async () => {
    const k = sy.kysely<DB>()
    await withRouteContext({ tenant: 'a' }, () =>
      k
        .with('orders', (q) => q.selectFrom('orders').select(['tag', 'country']))
        .insertInto('orders')
        .columns(['tag', 'country'])
        .expression((eb) => eb.selectFrom('orders').select(['tag', 'country']))
        .execute(),
    )
    const counts = await sy.on('default').read<{ s: string; n: number }>(
      `select 'a' as s, count(*)::int as n from tenant_a.orders union all select 'public', count(*)::int from public.orders order by 1`,
    )
    expect(counts.rows).toEqual([
      { s: 'a', n: 2 },
      { s: 'public', n: 1 },
    ])
    await sy.on('default').write(`delete from tenant_a.orders where id > 1`)
  })

  it('raw SQL inside a Kysely query takes the parsing path, and its guard', async () => {
    const parsePath = vi.spyOn(SchemaRouter.prototype, 'run')
    const k = sy.kysely<DB>()
    const rows = await withRouteContext({ tenant: 'a' }, () => k.selectFrom('orders').select(sql<string>`upper(tag)`.as('t')).execute())
    expect(rows).toEqual([{ t: 'A' }])
    expect(parsePath).toHaveBeenCalledTimes(1)
    const err = await withRouteContext({ tenant: 'a' }, () =>
      k.selectFrom('orders').select(sql<number>`(select count(*) from tenant_b.orders)`.as('n')).execute(),
    ).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TenantIsolationError)
  })

  it('writes through Kysely land in the asking tenant schema only', async () => {
    const k = sy.kysely<DB>()
    await withRouteContext({ tenant: 'b' }, () => k.insertInto('orders').values({ tag: 'b', country: 'fr' }).execute())
    const counts = await sy.on('default').read<{ s: string; n: number }>(
      `select 'a' as s, count(*)::int as n from tenant_a.orders union all select 'b', count(*)::int from tenant_b.orders union all select 'public', count(*)::int from public.orders order by 1`,
    )
    expect(counts.rows).toEqual([
      { s: 'a', n: 1 },
      { s: 'b', n: 2 },
      { s: 'public', n: 1 },
    ])
  })

  it("a router's schemaStrategy overrides the Switchyard-wide strategy for its answers", async () => {
    const probe = `select current_setting('search_path') as path, (select tag from orders limit 1) as tag`
    const byTransaction: DatabaseRouter = { ...tenantSchema, schemaStrategy: 'transaction' }
    const viaTx = createSwitchyard({ databases: { default: postgres({ connectionString: db.connectionString, max: 1 }) }, routers: [byTransaction] })
    try {
      // Under `qualify` (the Switchyard default) the connection's own search path is untouched.
      const q = await withRouteContext({ tenant: 'a' }, () => sy.read<{ path: string; tag: string }>(probe))
      expect(q.rows[0]?.tag).toBe('a')
      expect(q.rows[0]?.path).not.toContain('tenant_a')
      // The router asked for `transaction`: the statement runs with a transaction-local path.
      const t = await withRouteContext({ tenant: 'a' }, () => viaTx.read<{ path: string; tag: string }>(probe))
      expect(t.rows[0]?.tag).toBe('a')
      expect(t.rows[0]?.path).toContain('tenant_a')
      // And the path did not stay on the pooled connection.
      const after = await viaTx.read<{ path: string }>(`select current_setting('search_path') as path`)
      expect(after.rows[0]?.path).not.toContain('tenant_a')
    } finally {
      await viaTx.close()
    }
  })

  it('sy.transaction under the transaction strategy sees the tenant schema, then the shared ones', async () => {
    const viaTx = createSwitchyard({
      databases: { default: postgres({ connectionString: db.connectionString, max: 1 }) },
      routers: [tenantSchema],
      schemaRouting: { strategy: 'transaction', sharedTables: { countries: 'shared' } },
    })
    try {
      const rows = await withRouteContext({ tenant: 'b' }, () =>
        viaTx.transaction(async (tx) => (await tx.read<{ tag: string; name: string }>('select o.tag, c.name from orders o join countries c on c.code = o.country limit 1')).rows),
      )
      expect(rows).toEqual([{ tag: 'b', name: 'France' }])
    } finally {
      await viaTx.close()
    }
  })

  it("Kysely's setIsolationLevel under schema routing: begins at that level, inside the tenant's schema", async () => {
    const k = sy.kysely<DB>()
    const probe = sql<{ level: string; ro: string; path: string }>`select current_setting('transaction_isolation') as level, current_setting('transaction_read_only') as ro, current_setting('search_path') as path`
    const seen = await withRouteContext({ tenant: 'a' }, () =>
      k
        .transaction()
        .setIsolationLevel('serializable')
        .execute(async (trx) => ({ modes: (await probe.execute(trx)).rows[0], tags: await trx.selectFrom('orders').select('tag').execute() })),
    )
    expect(seen.modes).toMatchObject({ level: 'serializable', ro: 'off' })
    expect(seen.modes?.path).toContain('tenant_a')
    expect(seen.tags).toEqual([{ tag: 'a' }])
    expect(decisions.at(-1)).toMatchObject({ kind: 'write', reason: 'transaction', schema: 'tenant_a' })

    // An access mode too, with a level; a write inside is refused by the database and rolls back.
    const readOnly = await withRouteContext({ tenant: 'b' }, () =>
      k
        .transaction()
        .setIsolationLevel('repeatable read')
        .setAccessMode('read only')
        .execute(async (trx) => (await probe.execute(trx)).rows[0]),
    )
    expect(readOnly).toMatchObject({ level: 'repeatable read', ro: 'on' })
    expect(readOnly?.path).toContain('tenant_b')
    const write = withRouteContext({ tenant: 'b' }, () =>
      k.transaction().setAccessMode('read only').execute((trx) => trx.insertInto('orders').values({ tag: 'never', country: 'fr' }).execute()),
    )
    await expect(write).rejects.toBeInstanceOf(QueryError)
    const never = await sy.on('default').read(`select 1 from tenant_b.orders where tag = 'never'`)
    expect(never.rows).toEqual([])
  })

  it('sy.transaction keeps the caller\'s isolation level and read-only mode alongside the tenant schema', async () => {
    const seen = await withRouteContext({ tenant: 'b' }, () =>
      sy.transaction(
        async (tx) =>
          (await tx.read<{ level: string; ro: string; tag: string }>(`select current_setting('transaction_isolation') as level, current_setting('transaction_read_only') as ro, (select tag from orders limit 1) as tag`)).rows[0],
        { isolationLevel: 'repeatable read', readOnly: true },
      ),
    )
    expect(seen).toEqual({ level: 'repeatable read', ro: 'on', tag: 'b' })
    // Nothing stays on the pooled connections: every one is back on the default.
    const after = await Promise.all(
      Array.from({ length: 3 }, () => sy.transaction(async (tx) => (await tx.read<{ level: string; ro: string }>(`select current_setting('transaction_isolation') as level, current_setting('transaction_read_only') as ro`)).rows[0])),
    )
    for (const row of after) expect(row).toEqual({ level: 'read committed', ro: 'off' })
  })

  it("Kysely's 'snapshot' isolation level is refused, naming it, before a transaction opens", async () => {
    const k = sy.kysely<DB>()
    const before = decisions.length
    let ran = false
    const err = await withRouteContext({ tenant: 'a' }, () =>
      k
        .transaction()
        .setIsolationLevel('snapshot')
        .execute(async () => {
          ran = true
        }),
    ).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnsupportedError)
    expect((err as Error).message).toContain(`'snapshot'`)
    expect(ran).toBe(false)
    expect(decisions.length).toBe(before)
  })

  it('a schema name that is not a plain identifier is refused before BEGIN runs', async () => {
    const evil = createSwitchyard({
      databases: { default: postgres({ connectionString: db.connectionString, max: 1 }) },
      routers: [{ schemaFor: () => 'tenant_a"; drop schema tenant_b cascade; --' }],
    })
    try {
      await expect(evil.transaction((tx) => tx.read('select 1'))).rejects.toMatchObject({ code: 'INVALID_SCHEMA_NAME' })
      await expect(evil.read('select 1')).rejects.toMatchObject({ code: 'INVALID_SCHEMA_NAME' })
      expect((await sy.on('default').read(`select count(*)::int as n from tenant_b.orders`)).rows[0]).toBeDefined()
    } finally {
      await evil.close()
    }
  })
})
