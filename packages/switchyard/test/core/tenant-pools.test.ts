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

  it('holds real connections under a global cap below maxOpenPools × max (cap 10 < 20 pools × 2) under load over 40 databases', async () => {
    const CAP = 10
    const SPREAD = 40
    // Tags this Switchyard's connections, so the sampler counts only them (the suite's other pools stay open).
    const app = randomName('sy_cap')
    const names = Array.from({ length: SPREAD }, (_, i) => dbName(i))
    const capped = createSwitchyard({
      databases: {},
      routers: [tenantRouter],
      maxOpenPools: 20,
      maxConnections: CAP,
      resolveAlias: (alias) => {
        const m = /^tenant:t(\d+)$/.exec(alias)
        if (!m || Number(m[1]) >= SPREAD) return undefined
        return postgres({ connectionString: `postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/${dbName(Number(m[1]))}?application_name=${app}`, max: 2 })
      },
    })
    const countReal = (c: pg.Client) =>
      c.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where application_name = $1 and datname = any($2)', [app, names]).then((r) => r.rows[0]!.n)
    const monitor = new pg.Client({ host: PG_HOST, port: PG_PORT, user: PG_USER, database: 'postgres' })
    await monitor.connect()
    let sampling = true
    let maxReal = 0
    let samples = 0
    let maxBudget = 0
    const sampler = (async () => {
      while (sampling) {
        maxReal = Math.max(maxReal, await countReal(monitor))
        maxBudget = Math.max(maxBudget, capped.pools.stats().connectionBudgetUsed)
        samples++
      }
    })()
    let failures = 0
    let queries = 0
    try {
      await Promise.all(
        Array.from({ length: 40 }, async (_, w) => {
          for (let i = 0; i < 25; i++) {
            const tenant = `t${(w * 13 + i * 7) % SPREAD}`
            await withRouteContext({ tenant }, async () => {
              try {
                const { rows } = await capped.read<{ tag: string }>('select tag, pg_sleep(0.005) from t')
                expect(rows.map((r) => r.tag)).toEqual([tenant])
                queries++
              } catch (err) {
                failures++
                throw err
              }
            })
          }
        }),
      )
    } finally {
      sampling = false
      await sampler
      await capped.close()
    }
    expect(failures).toBe(0)
    expect(queries).toBe(1000)
    expect(samples).toBeGreaterThan(20)
    // The cap bound, not the pool count: 20 pools of 2 would have allowed 40.
    expect(maxReal).toBeLessThanOrEqual(CAP)
    expect(maxBudget).toBeLessThanOrEqual(CAP)
    // And the load was real: several connections were in use at once.
    expect(maxReal).toBeGreaterThanOrEqual(4)
    // Closing gives every one of them back.
    expect(await countReal(monitor)).toBe(0)
    await monitor.end()
  }, 180_000)

  it('an alias the resolver does not know is an UnknownAliasError, not another tenant', async () => {
    await expect(withRouteContext({ tenant: 'nobody' }, () => sy.read('select tag from t'))).rejects.toMatchObject({ code: 'UNKNOWN_ALIAS', alias: 'tenant:nobody' })
  })
})
