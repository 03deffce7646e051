import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSwitchyard, currentRouteContext, withRouteContext, type DatabaseRouter, type Switchyard } from '../../src/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { PG_HOST, PG_PORT, PG_USER, pgAdmin, randomName, serviceAvailable } from '../../../../test-support/services.js'

const ok = await serviceAvailable('postgres')

const TENANTS = 200
const run = randomName('sy_pools')
const dbName = (i: number) => `${run}_${i}`

const tenantRouter: DatabaseRouter = {
  dbForRead: (_m, ctx) => (ctx.tenant ? `tenant:${ctx.tenant}` : undefined),
  dbForWrite: (_m, ctx) => (ctx.tenant ? `tenant:${ctx.tenant}` : undefined),
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.skipIf(!ok)(`${TENANTS} tenant databases behind a pool LRU`, () => {
  let sy: Switchyard
  let maxOpenSeen = 0

  beforeAll(async () => {
    // One template database with the tagged table, cloned 200 times: much faster than 200 DDL runs.
    await pgAdmin(async (c) => {
      await c.query(`create database "${run}_tpl"`)
    })
    const tpl = new pg.Client({ host: PG_HOST, port: PG_PORT, user: PG_USER, database: `${run}_tpl` })
    await tpl.connect()
    await tpl.query(`create table t (tag text not null)`)
    await tpl.end()
    await pgAdmin(async (c) => {
      for (let i = 0; i < TENANTS; i++) await c.query(`create database "${dbName(i)}" template "${run}_tpl"`)
    })
    // Tag every database with its own tenant, through Switchyard's own pools.
    sy = createSwitchyard({
      databases: {},
      routers: [tenantRouter],
      maxOpenPools: 20,
      maxConnections: 40,
      resolveAlias: (alias) => {
        const m = /^tenant:t(\d+)$/.exec(alias)
        if (!m || Number(m[1]) >= TENANTS) return undefined
        return postgres({ host: PG_HOST, port: PG_PORT, user: PG_USER, database: dbName(Number(m[1])), max: 2 })
      },
    })
    for (let i = 0; i < TENANTS; i++) {
      await withRouteContext({ tenant: `t${i}` }, () => sy.write('insert into t (tag) values ($1)', [`t${i}`]))
    }
  }, 240_000)

  afterAll(async () => {
    await sy?.close()
    await pgAdmin(async (c) => {
      for (let i = 0; i < TENANTS; i++) await c.query(`drop database if exists "${dbName(i)}" with (force)`)
      await c.query(`drop database if exists "${run}_tpl" with (force)`)
    })
  }, 240_000)

  it('1,000 interleaved concurrent requests of 50 tenants each see only their own context and rows', async () => {
    const requests = Array.from({ length: 1000 }, (_, i) => `t${(i * 7) % 50}`)
    const results = await Promise.all(
      requests.map((tenant) =>
        withRouteContext({ tenant }, async () => {
          await sleep(Math.random() * 5)
          const { rows, alias } = await sy.read<{ tag: string }>('select tag from t')
          await sleep(Math.random() * 2)
          return { tenant, seen: currentRouteContext().tenant, alias, tags: rows.map((r) => r.tag) }
        }),
      ),
    )
    for (const r of results) {
      expect(r.seen).toBe(r.tenant)
      expect(r.alias).toBe(`tenant:${r.tenant}`)
      expect(r.tags).toEqual([r.tenant])
    }
  }, 120_000)

  it('evicts pools under load with no failed query, holding at most 20 pools and the connection cap', async () => {
    let maxBudgetSeen = 0
    const sampler = setInterval(() => {
      const stats = sy.pools.stats()
      maxOpenSeen = Math.max(maxOpenSeen, stats.resolvedPools)
      maxBudgetSeen = Math.max(maxBudgetSeen, stats.connectionBudgetUsed)
    }, 1)
    let failures = 0
    let queries = 0
    const workers = Array.from({ length: 40 }, async (_, w) => {
      for (let i = 0; i < 25; i++) {
        const tenant = `t${(w * 53 + i * 17) % TENANTS}`
        await withRouteContext({ tenant }, async () => {
          try {
            // pg_sleep keeps statements in flight while their pool is being evicted.
            const { rows } = await sy.read<{ tag: string }>('select tag, pg_sleep(0.002) from t')
            expect(rows.map((r) => r.tag)).toEqual([tenant])
            queries++
          } catch (err) {
            failures++
            throw err
          }
        })
      }
    })
    await Promise.all(workers)
    clearInterval(sampler)
    expect(failures).toBe(0)
    expect(queries).toBe(1000)
    expect(maxBudgetSeen).toBeLessThanOrEqual(40)
    expect(maxOpenSeen).toBeLessThanOrEqual(20)
    expect(maxOpenSeen).toBeGreaterThan(1)
    const { rows } = await pgAdmin((c) => c.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where datname like $1`, [`${run}_%`]))
    expect(rows[0]!.n).toBeLessThanOrEqual(40)
  }, 180_000)

  it('an alias the resolver does not know is an UnknownAliasError, not another tenant', async () => {
    await expect(withRouteContext({ tenant: 'nobody' }, () => sy.read('select tag from t'))).rejects.toMatchObject({ code: 'UNKNOWN_ALIAS', alias: 'tenant:nobody' })
  })
})
