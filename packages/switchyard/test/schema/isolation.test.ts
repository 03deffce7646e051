import pg from 'pg'
import { PGlite } from '@electric-sql/pglite'
import { sql as ksql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSwitchyard, InvalidSchemaNameError, QueryCancelledError, schemaMapping, TenantIsolationError, withRouteContext, type Switchyard } from '../../src/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { pglite } from '../../src/engines/pglite/index.js'
import { createTempPgDatabase, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'

const ok = await serviceAvailable('postgres')

const TENANTS = 200
const QUERIES = 20_000
const tenantKey = (i: number) => `t${i}`

interface DB {
  orders: { id: number; tenant: string; amount: number }
}

/** The SQLSTATE of a failure, wherever the driver or Switchyard put it. */
const sqlStateOf = (e: unknown): string | undefined => (e as { sqlState?: string } | null)?.sqlState ?? ((e as { cause?: { code?: string } } | null)?.cause?.code)

/** Only the failure each mixed-in kind is meant to produce counts; anything else (an isolation refusal, a lost connection) is a wrong outcome. */
const describeError = (e: unknown): string => `${(e as Error)?.constructor?.name}(${(e as { code?: string })?.code ?? ''}/${sqlStateOf(e) ?? ''}): ${(e as Error)?.message}`

describe.skipIf(!ok)(`schema routing isolation: ${TENANTS} tenant schemas, ${QUERIES} interleaved queries over 5 connections`, () => {
  let db: TempDatabase
  let sy: Switchyard
  let viaTransaction: Switchyard

  beforeAll(async () => {
    db = await createTempPgDatabase()
    const c = new pg.Client({ connectionString: db.connectionString })
    await c.connect()
    const ddl: string[] = []
    for (let i = 0; i < TENANTS; i++) {
      const s = `tenant_${tenantKey(i)}`
      ddl.push(`create schema ${s}; create table ${s}.orders (id int primary key, tenant text not null, amount int not null);`)
      ddl.push(`insert into ${s}.orders select g, '${tenantKey(i)}', g * 10 from generate_series(1, 5) g;`)
    }
    await c.query(ddl.join('\n'))
    // A table of the same name in public: a query that escaped its schema would find it.
    await c.query(`create table public.orders (id int primary key, tenant text not null, amount int not null); insert into public.orders values (1, 'PUBLIC', 0)`)
    await c.end()
    const routers = [{ schemaFor: (ctx: { tenant?: string }) => (ctx.tenant ? `tenant_${ctx.tenant}` : undefined) }]
    sy = createSwitchyard({ databases: { default: postgres({ connectionString: db.connectionString, max: 5 }) }, routers })
    viaTransaction = createSwitchyard({
      databases: { default: postgres({ connectionString: db.connectionString, max: 5 }) },
      routers,
      schemaRouting: { strategy: 'transaction' },
    })
  }, 120_000)

  afterAll(async () => {
    await sy?.close()
    await viaTransaction?.close()
    await db?.drop()
  })

  it('every row returned carries the asking tenant, with aborted transactions, failures and cancellations mixed in', async () => {
    const kysely = sy.kysely<DB>()
    // cancelRaced: the abort fired after the statement had finished, so it completed normally.
    const counts = { plain: 0, strategyTx: 0, kysely: 0, abortedTx: 0, failed: 0, cancelled: 0, cancelledOnServer: 0, cancelRaced: 0, crossTenantRefused: 0 }
    const wrong: string[] = []
    const check = (tenant: string, rows: { tenant: string }[]) => {
      if (rows.length === 0) wrong.push(`${tenant}: no rows`)
      for (const r of rows) if (r.tenant !== tenant) wrong.push(`${tenant} saw ${r.tenant}`)
    }
    let next = 0
    // How long a plain statement takes from call to answer, smoothed: nearly all of it is the wait
    // for one of the 5 connections, so a statement issued now starts on the server about this late.
    // Cancellations are timed from it, so that some land mid-statement however fast the machine is.
    let wait = 0
    const worker = async () => {
      for (;;) {
        const n = next++
        if (n >= QUERIES) return
        const tenant = tenantKey((n * 7919) % TENANTS)
        await withRouteContext({ tenant }, async () => {
          const kind = n % 20
          if (kind < 12) {
            const started = performance.now()
            const { rows } = await sy.read<{ tenant: string }>('select tenant from orders where id = $1', [(n % 5) + 1])
            wait += (performance.now() - started - wait) / 16
            check(tenant, rows)
            counts.plain++
          } else if (kind < 14) {
            const { rows } = await viaTransaction.read<{ tenant: string }>('select tenant, amount from orders order by id')
            check(tenant, rows)
            counts.strategyTx++
          } else if (kind < 16) {
            const rows = await kysely.selectFrom('orders').select(['tenant', 'id']).where('id', '<=', 3).execute()
            check(tenant, rows)
            counts.kysely++
          } else if (kind === 16) {
            await sy
              .transaction(async (tx) => {
                const { rows } = await tx.read<{ tenant: string }>('select tenant from orders')
                check(tenant, rows)
                await tx.write('update orders set amount = amount + 1 where id = 1')
                throw new Error('abort this transaction')
              })
              .then(
                () => wrong.push('an aborted transaction committed'),
                (e: unknown) => {
                  if ((e as Error).message === 'abort this transaction') counts.abortedTx++
                  else wrong.push(`aborted transaction: ${describeError(e)}`)
                },
              )
          } else if (kind === 17) {
            await sy.read('select tenant from orders where id = $1::int', ['not a number']).then(
              () => wrong.push('a failing statement succeeded'),
              (e: unknown) => {
                // 22P02 invalid_text_representation: the failure this statement is meant to have.
                if (sqlStateOf(e) === '22P02') counts.failed++
                else wrong.push(`failing statement: ${describeError(e)}`)
              },
            )
          } else if (kind === 18) {
            const controller = new AbortController()
            // Some abort while the query waits for a connection, some while pg_sleep runs on the server.
            setTimeout(() => controller.abort(), n % 3 === 0 ? 2 : (wait * (n % 3)) / 2)
            await sy.read<{ tenant: string }>('select tenant, pg_sleep(0.05) from orders where id = 1', [], { signal: controller.signal }).then(
              ({ rows }) => {
                check(tenant, rows)
                counts.cancelRaced++
              },
              (e: unknown) => {
                if ((e as { code?: string }).code === 'QUERY_CANCELLED') {
                  counts.cancelled++
                  if (((e as Error).cause as { code?: string } | undefined)?.code === '57014') counts.cancelledOnServer++
                } else wrong.push(`cancelled statement: ${describeError(e)}`)
              },
            )
          } else {
            const other = tenant === 't0' ? 't1' : 't0'
            await sy.read(`select tenant from tenant_${other}.orders`).then(
              () => wrong.push(`${tenant} read tenant_${other}`),
              (e: unknown) => {
                if (e instanceof TenantIsolationError) counts.crossTenantRefused++
                else wrong.push(`cross-tenant read: ${describeError(e)}`)
              },
            )
          }
        })
      }
    }
    await Promise.all(Array.from({ length: 40 }, worker))
    expect(wrong).toEqual([])
    // Exact accounting: every issued query ended the one way its kind allows.
    expect(counts.plain + counts.strategyTx + counts.kysely + counts.abortedTx + counts.failed + counts.cancelled + counts.cancelRaced + counts.crossTenantRefused).toBe(QUERIES)
    expect(counts.plain).toBe((QUERIES / 20) * 12)
    expect(counts.strategyTx).toBe((QUERIES / 20) * 2)
    expect(counts.kysely).toBe((QUERIES / 20) * 2)
    expect(counts.abortedTx).toBe(QUERIES / 20)
    expect(counts.failed).toBe(QUERIES / 20)
    expect(counts.cancelled + counts.cancelRaced).toBe(QUERIES / 20)
    expect(counts.crossTenantRefused).toBe(QUERIES / 20)
    // Aborted at once, or halfway to or when the statement is expected to start its 50 ms: some
    // are cancelled in the queue, some mid-statement on the server, some finish first.
    expect(counts.cancelled).toBeGreaterThan(counts.cancelledOnServer)
    expect(counts.cancelledOnServer).toBeGreaterThan(0)
    // The aborted transactions' updates never landed anywhere.
    const { rows } = await sy.on('default').read<{ n: number }>(`select count(*)::int as n from tenant_t0.orders where amount % 10 <> 0`)
    expect(rows).toEqual([{ n: 0 }])
  }, 180_000)

  it('through Kysely too: every row carries the asking tenant, with aborted transactions, failures and cancellations mixed in', async () => {
    const kysely = sy.kysely<DB>()
    const kyselyTx = viaTransaction.kysely<DB>()
    const counts = { builder: 0, strategyTx: 0, raw: 0, abortedTx: 0, failed: 0, cancelled: 0, crossTenantRefused: 0 }
    const wrong: string[] = []
    const check = (tenant: string, rows: readonly { tenant: string }[]) => {
      if (rows.length === 0) wrong.push(`${tenant}: no rows`)
      for (const r of rows) if (r.tenant !== tenant) wrong.push(`${tenant} saw ${r.tenant}`)
    }
    let next = 0
    const worker = async () => {
      for (;;) {
        const n = next++
        if (n >= QUERIES) return
        const tenant = tenantKey((n * 7919 + 13) % TENANTS)
        await withRouteContext({ tenant }, async () => {
          const kind = n % 20
          if (kind < 12) {
            check(tenant, await kysely.selectFrom('orders').select(['tenant']).where('id', '=', (n % 5) + 1).execute())
            counts.builder++
          } else if (kind < 14) {
            check(tenant, await kyselyTx.selectFrom('orders').select(['tenant', 'amount']).orderBy('id').execute())
            counts.strategyTx++
          } else if (kind < 16) {
            const { rows } = await ksql<{ tenant: string }>`select tenant from orders where id <= ${3}`.execute(kysely)
            check(tenant, rows)
            counts.raw++
          } else if (kind === 16) {
            await kysely
              .transaction()
              .execute(async (trx) => {
                check(tenant, await trx.selectFrom('orders').select('tenant').execute())
                await trx.updateTable('orders').set((eb) => ({ amount: eb('amount', '+', 1) })).where('id', '=', 1).execute()
                throw new Error('abort this transaction')
              })
              .then(
                () => wrong.push('an aborted transaction committed'),
                (e: unknown) => {
                  if ((e as Error).message === 'abort this transaction') counts.abortedTx++
                  else wrong.push(`aborted transaction: ${describeError(e)}`)
                },
              )
          } else if (kind === 17) {
            await kysely
              .selectFrom('orders')
              .select('tenant')
              .where('id', '=', ksql<number>`${'not a number'}::int`)
              .execute()
              .then(
                () => wrong.push('a failing statement succeeded'),
                (e: unknown) => {
                  if (sqlStateOf(e) === '22P02') counts.failed++
                  else wrong.push(`failing statement: ${describeError(e)}`)
                },
              )
          } else if (kind === 18) {
            // Kysely has no AbortSignal: the server cancels the statement (statement_timeout), inside a transaction.
            await kysely
              .transaction()
              .execute(async (trx) => {
                await ksql`set local statement_timeout = 5`.execute(trx)
                const { rows } = await ksql<{ tenant: string }>`select tenant, pg_sleep(0.05) from orders where id = 1`.execute(trx)
                check(tenant, rows)
              })
              .then(
                () => wrong.push('a cancelled statement succeeded'),
                (e: unknown) => {
                  // 57014 query_canceled, from statement_timeout: nothing else counts as a cancellation.
                  if (sqlStateOf(e) === '57014') counts.cancelled++
                  else wrong.push(`cancelled statement: ${describeError(e)}`)
                },
              )
          } else {
            const other = tenant === 't0' ? 't1' : 't0'
            await kysely
              .withSchema(`tenant_${other}`)
              .selectFrom('orders')
              .select('tenant')
              .execute()
              .then(
                () => wrong.push(`${tenant} read tenant_${other}`),
                (e: unknown) => {
                  if (e instanceof TenantIsolationError) counts.crossTenantRefused++
                  else wrong.push(`cross-tenant read: ${describeError(e)}`)
                },
              )
          }
        })
      }
    }
    await Promise.all(Array.from({ length: 40 }, worker))
    expect(wrong).toEqual([])
    expect(counts.builder).toBe((QUERIES / 20) * 12)
    expect(counts.strategyTx).toBe((QUERIES / 20) * 2)
    expect(counts.raw).toBe((QUERIES / 20) * 2)
    expect(counts.builder + counts.strategyTx + counts.raw + counts.abortedTx + counts.failed + counts.cancelled + counts.crossTenantRefused).toBe(QUERIES)
    expect(counts.failed).toBe(QUERIES / 20)
    expect(counts.cancelled).toBe(QUERIES / 20)
    expect(counts.crossTenantRefused).toBe(QUERIES / 20)
    expect(counts.abortedTx).toBe(QUERIES / 20)
    // The aborted transactions' updates never landed anywhere, and every pooled connection is clean.
    for (const t of ['t0', 't1', 't2']) {
      const { rows } = await sy.on('default').read<{ n: number }>(`select count(*)::int as n from tenant_${t}.orders where amount % 10 <> 0`)
      expect(rows).toEqual([{ n: 0 }])
    }
  }, 180_000)

  it('no pooled connection is left with a tenant search_path', async () => {
    const paths = await Promise.all(Array.from({ length: 10 }, () => sy.on('default').read<{ search_path: string }>('show search_path')))
    for (const p of paths) expect(p.rows[0]?.search_path).not.toMatch(/tenant_/)
    const { rows } = await sy.on('default').read<{ tenant: string }>('select tenant from orders')
    expect(rows).toEqual([{ tenant: 'PUBLIC' }])
  })

  it('raw SQL through Kysely is guarded too', async () => {
    const kysely = sy.kysely<DB>()
    await expect(withRouteContext({ tenant: 't3' }, () => ksql`select * from tenant_t4.orders`.execute(kysely))).rejects.toBeInstanceOf(TenantIsolationError)
  })

  it.each(['acme; drop schema tenant_t0 cascade', `t0"; drop schema tenant_t0 cascade; --`, 'tenant-ü', '', 'x'.repeat(64), `t0' or '1'='1`])(
    'an injection attempt through the tenant key (%s) never reaches the database',
    async (key) => {
      const before = await sy.on('default').read<{ n: number }>('select count(*)::int as n from pg_namespace')
      // Both a router that hands the key over raw and the tenant_{key} convention must refuse it.
      const raw = createSwitchyard({
        databases: { default: postgres({ connectionString: db.connectionString, max: 1 }) },
        routers: [{ schemaFor: (ctx) => ctx.tenant }],
      })
      try {
        const err = await withRouteContext({ tenant: key }, () => raw.read('select 1 from orders')).catch((e: unknown) => e)
        expect(err).toMatchObject({ code: 'INVALID_SCHEMA_NAME' })
      } finally {
        await raw.close()
      }
      expect(() => schemaMapping().schemaFor(key)).toThrow(InvalidSchemaNameError)
      const after = await sy.on('default').read<{ n: number }>('select count(*)::int as n from pg_namespace')
      expect(after.rows).toEqual(before.rows)
      const t0 = await withRouteContext({ tenant: 't0' }, () => sy.read<{ tenant: string }>('select tenant from orders where id = 1'))
      expect(t0.rows).toEqual([{ tenant: 't0' }])
    },
  )
})

describe('schema-scoped statements on PGlite honour their AbortSignal', () => {
  it('a signal that has already fired stops a schema-scoped statement before it runs, directly and through schema routing', async () => {
    const instance = new PGlite()
    const spec = pglite({ instance })
    const pool = spec.createPool()
    try {
      await pool.query('create schema tenant_a')
      await pool.query('create table tenant_a.orders (id int primary key)')
      const aborted = AbortSignal.abort()
      for (const options of [{ schema: 'tenant_a' }, { searchPath: ['tenant_a'] }]) {
        const err = await pool.query('insert into tenant_a.orders values (1)', [], { ...options, signal: aborted }).catch((e: unknown) => e)
        expect(err).toBeInstanceOf(QueryCancelledError)
      }
      for (const strategy of ['qualify', 'transaction'] as const) {
        const routed = createSwitchyard({
          databases: { default: spec },
          routers: [{ schemaFor: (ctx: { tenant?: string }) => (ctx.tenant ? `tenant_${ctx.tenant}` : undefined) }],
          schemaRouting: { strategy },
        })
        try {
          const err = await withRouteContext({ tenant: 'a' }, () => routed.write('insert into orders values (2)', [], { signal: aborted })).catch((e: unknown) => e)
          expect(err, strategy).toBeInstanceOf(QueryCancelledError)
          // Without the signal the same routed statement lands in the tenant's table.
          await withRouteContext({ tenant: 'a' }, () => routed.write(`insert into orders values (${strategy === 'qualify' ? 3 : 4})`))
        } finally {
          await routed.close()
        }
      }
      // Nothing the aborted signal carried ran.
      expect((await pool.query<{ id: number }>('select id from tenant_a.orders order by id')).rows).toEqual([{ id: 3 }, { id: 4 }])
      await pool.query('insert into orders values (1)', [], { schema: 'tenant_a', signal: new AbortController().signal })
      expect((await pool.query<{ n: number }>('select count(*)::int as n from tenant_a.orders')).rows).toEqual([{ n: 3 }])
    } finally {
      await pool.close()
      await instance.close()
    }
  })
})
