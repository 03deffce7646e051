// Schema routing: the same point query over many tenant schemas, interleaved in one run.
//   (a) bare pg.Pool, the tenant's schema written into the SQL by hand (the limit: same tables, same plans)
//   (b) schema-routed 'qualify'     (c) schema-routed 'transaction' — both through the public path,
//       withRouteContext({ tenant }, () => sy.read(sql, params)) with a schemaFor router, so the
//       facade (context, routers, pool lease, schema applier, engine pool) is inside the ratio
//   (d) naive BEGIN; SET LOCAL search_path; query; COMMIT on a bare pg.Pool
// Then `migrate` with nothing pending over every tenant.
// Usage: npm run build -w switchyard && node bench/schema-routing/index.mjs
//   BENCH_SECONDS (per variant, default 10), BENCH_CLIENTS (16), BENCH_TENANTS (1000), BENCH_POOL (10)
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { interleave, medianRoundRatio, report } from '../lib/measure.mjs'

// Import only the folders this bench needs, so a half-edited folder elsewhere cannot break it.
const { createSwitchyard } = await import('../../packages/switchyard/dist/facade/index.js')
const { withRouteContext } = await import('../../packages/switchyard/dist/context/index.js')
const { TenantManager } = await import('../../packages/switchyard/dist/tenancy/index.js')
const { postgres } = await import('../../packages/switchyard/dist/engines/postgres/index.js')

const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const clients = Number(process.env.BENCH_CLIENTS ?? 16)
const TENANTS = Number(process.env.BENCH_TENANTS ?? 1000)
const POOL = Number(process.env.BENCH_POOL ?? 10)
const ROWS = 100
const host = process.env.PGHOST ?? '127.0.0.1'
const user = process.env.PGUSER ?? 'postgres'
const name = `sy_bench_schema_${randomBytes(4).toString('hex')}`
const SQL = 'select id, name, qty from items where id = $1'

const key = (i) => `t${String(i).padStart(4, '0')}`
const schemaOf = (i) => `tenant_${key(i)}`

const admin = new pg.Client({ host, user, database: 'postgres' })
await admin.connect()
await admin.query(`create database "${name}"`)
const enginePool = postgres({ host, user, database: name, max: POOL }).createPool()
const poolConfig = { host, user, database: name, max: POOL, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000 }
const bare = new pg.Pool(poolConfig)
const control = new pg.Pool(poolConfig)
const naivePool = new pg.Pool(poolConfig)
// The tenant key is the context; the router names the schema, as an application would write it.
const routers = [{ schemaFor: (ctx) => (ctx.tenant !== undefined ? `tenant_${ctx.tenant}` : undefined) }]
const routed = (strategy) => createSwitchyard({ databases: { default: postgres({ host, user, database: name, max: POOL }) }, routers, schemaRouting: { strategy } })
const syQualify = routed('qualify')
const syTransaction = routed('transaction')
try {
  // Provisioning goes through TenantManager, so the registry and status tables are real for the migrate measurement.
  const migrations = [
    {
      name: '001_items',
      async up(db) {
        await db.query('create table items (id int primary key, name text not null, qty int not null)')
        await db.query(`insert into items select g, $1 || ' item ' || g, g % 10 from generate_series(1, ${ROWS}) g`, [db.tenant])
      },
    },
    { name: '002_index', up: (db) => db.query('create index items_qty on items (qty)').then(() => undefined) },
  ]
  const manager = new TenantManager({ pool: enginePool, migrations })
  const t0 = performance.now()
  let nextTenant = 0
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (nextTenant < TENANTS) await manager.provision(key(nextTenant++))
    }),
  )
  const provisionMs = performance.now() - t0
  await bare.query('analyze')

  const keys = Array.from({ length: TENANTS }, (_, i) => key(i))
  const viaFacade = (sy) => ({ t, id }) => withRouteContext({ tenant: keys[t] }, () => sy.read(SQL, [id]))
  const qualify = viaFacade(syQualify)
  const transaction = viaFacade(syTransaction)
  const handWritten = Array.from({ length: TENANTS }, (_, i) => `select id, name, qty from "${schemaOf(i)}".items where id = $1`)
  const schemas = Array.from({ length: TENANTS }, (_, i) => schemaOf(i))

  // A fixed pseudo-random sequence of (tenant, id), the same for every variant.
  const nextArg = (i) => {
    const h = Math.imul(i + 1, 2654435761) >>> 0
    return { t: h % TENANTS, id: (h >>> 10) % ROWS + 1 }
  }
  const expectTenant = (rows, t) => {
    if (rows.length !== 1 || !rows[0].name.startsWith(`${key(t)} `)) throw new Error(`wrong row for ${key(t)}: ${JSON.stringify(rows)}`)
  }

  const naive = async ({ t, id }) => {
    const c = await naivePool.connect()
    try {
      await c.query('BEGIN')
      await c.query(`SET LOCAL search_path TO "${schemas[t]}"`)
      const r = await c.query(SQL, [id])
      await c.query('COMMIT')
      return r
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {})
      throw err
    } finally {
      c.release()
    }
  }

  // Every backend of every pool reads every tenant's table once before timing starts: a
  // backend's first touch of a relation loads its catalog entries, and with 1,000 tenants
  // that cold cost would otherwise land on whichever variant happens to run first.
  const touchAll = `select count(*) from (${schemas.map((s) => `(select id from "${s}".items where id = 1)`).join(' union all ')}) x`
  // Connections are held all at once (so every backend of the pool is reached) but query one
  // at a time: a statement touching 1,000 tables takes 2,000 locks, and the shared lock table
  // would run out if every backend held that many together.
  const warmPg = async (p) => {
    const held = await Promise.all(Array.from({ length: POOL }, () => p.connect()))
    try {
      for (const c of held) await c.query(touchAll)
    } finally {
      held.forEach((c) => c.release())
    }
  }
  const warmEngine = async (p) => {
    let arrived = 0
    let open
    const barrier = new Promise((r) => (open = r))
    let turn = Promise.resolve()
    await Promise.all(Array.from({ length: POOL }, () => p.transaction(async (tx) => {
      if (++arrived === POOL) open()
      await barrier
      const mine = turn.then(() => tx.query(touchAll))
      turn = mine.catch(() => {})
      await mine
    })))
  }
  console.error(`provisioned in ${(provisionMs / 1000).toFixed(1)} s; warming every connection`)
  for (const p of [bare, control, naivePool]) await warmPg(p)
  await warmEngine(enginePool)
  // The Switchyards' own pools, through their unrouted transaction (no tenant context: no schema applied).
  for (const sy of [syQualify, syTransaction]) await warmEngine(sy.on('default'))

  // Correctness first: every variant returns the asking tenant's row.
  for (const i of [0, 1, 2, 997]) {
    const a = nextArg(i)
    expectTenant((await bare.query(handWritten[a.t], [a.id])).rows, a.t)
    expectTenant((await qualify(a)).rows, a.t)
    expectTenant((await transaction(a)).rows, a.t)
    expectTenant((await naive(a)).rows, a.t)
  }

  const results = await interleave(
    [
      { name: '(a) bare pg.Pool, schema in SQL', op: ({ t, id }) => bare.query(handWritten[t], [id]) },
      { name: '    bare pg.Pool (control)', op: ({ t, id }) => control.query(handWritten[t], [id]) },
      { name: '    engine pool, schema in SQL', op: ({ t, id }) => enginePool.query(handWritten[t], [id]) },
      // The bare pool inside a fresh route context per query: what carrying a per-request
      // AsyncLocalStorage context costs by itself, before any routing.
      { name: '    bare pg.Pool, route context', op: ({ t, id }) => withRouteContext({ tenant: keys[t] }, () => bare.query(handWritten[t], [id])) },
      { name: "(b) sy.read, 'qualify'", op: qualify },
      { name: "(c) sy.read, 'transaction'", op: transaction },
      { name: '(d) naive BEGIN/SET LOCAL/COMMIT', op: naive },
    ],
    { clients, seconds, rounds: Number(process.env.BENCH_ROUNDS ?? 10), nextArg },
  )
  report(`schema routing: point query over ${TENANTS} tenant schemas, ${clients} clients, pool ${POOL}, ${seconds}s per variant, interleaved`, results)
  const [a, , , withContext, b] = results
  console.log(`\nqualify/bare throughput ${(b.throughput / a.throughput).toFixed(3)} (target >= 0.95), median of the ${a.perRound.length} rounds' ratios ${medianRoundRatio(b, a).toFixed(3)}; qualify/bare-in-a-route-context ${(b.throughput / withContext.throughput).toFixed(3)}`)

  // migrate with nothing pending: the cost of checking every tenant.
  const runs = []
  for (let i = 0; i < 5; i++) {
    const s = performance.now()
    const r = await manager.migrate({ concurrency: 8 })
    runs.push(performance.now() - s)
    if (r.skipped.length !== TENANTS || r.migrated.length !== 0) throw new Error(`migrate had work to do: ${JSON.stringify({ migrated: r.migrated.length, failed: r.failed.length })}`)
  }
  runs.sort((x, y) => x - y)
  console.log(`\nprovision ${TENANTS} tenants (2 migrations each, concurrency 8): ${(provisionMs / 1000).toFixed(2)} s`)
  console.log(`migrate, nothing pending, ${TENANTS} tenants: median ${runs[2].toFixed(1)} ms, max ${runs[4].toFixed(1)} ms over 5 runs (target < 10 000 ms)`)
} finally {
  await Promise.allSettled([bare.end(), control.end(), naivePool.end(), enginePool.close(), syQualify.close(), syTransaction.close()])
  await admin.query(`drop database if exists "${name}" with (force)`)
  await admin.end()
}
