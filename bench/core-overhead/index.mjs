// The same point query through sy.read and through a bare pg.Pool, interleaved in one run.
// Usage: npm run build && node bench/core-overhead/index.mjs   (BENCH_SECONDS=20 per variant by default)
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { createSwitchyard, withRouteContext } from '../../packages/switchyard/dist/index.js'
import { postgres } from '../../packages/switchyard/dist/engines/postgres/index.js'
import { interleave, report } from '../lib/measure.mjs'

const seconds = Number(process.env.BENCH_SECONDS ?? 20)
const clients = Number(process.env.BENCH_CLIENTS ?? 16)
const host = process.env.PGHOST ?? '127.0.0.1'
const user = process.env.PGUSER ?? 'postgres'
const name = `sy_bench_${randomBytes(4).toString('hex')}`
const ROWS = 10_000
const SQL = 'select id, name, qty from items where id = $1'

const admin = new pg.Client({ host, user, database: 'postgres' })
await admin.connect()
await admin.query(`create database "${name}"`)
try {
  const setup = new pg.Client({ host, user, database: name })
  await setup.connect()
  await setup.query('create table items (id int primary key, name text not null, qty int not null)')
  await setup.query(`insert into items select g, 'item ' || g, g % 100 from generate_series(1, ${ROWS}) g`)
  await setup.query('analyze items')
  await setup.end()

  // The baseline pools get the same pool settings Switchyard's postgres() uses (a connect
  // timeout costs a timer per waiting checkout), so only the routing layer differs.
  const poolConfig = { host, user, database: name, max: 10, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000 }
  const bare = new pg.Pool(poolConfig)
  const control = new pg.Pool(poolConfig)
  const sy = createSwitchyard({
    databases: {
      default: postgres({ host, user, database: name, max: 10 }),
      replica: postgres({ host, user, database: name, max: 10 }),
    },
    // The usual production shape: a read/write router and a route context per request.
    routers: [{ dbForRead: () => 'replica', dbForWrite: () => 'default' }],
  })
  const nextArg = (i) => (i * 7919) % ROWS + 1
  // Every variant runs inside one request's route context (as application code does), so the
  // AsyncLocalStorage machinery is live for the baseline too; the last variant also opens a
  // fresh context per query, the worst case of one query per request.
  const results = await withRouteContext({ tenant: 'acme' }, () => interleave(
    [
      { name: 'bare pg.Pool', op: (id) => bare.query(SQL, [id]) },
      // The same baseline again on a second pool: the spread between the two is the noise floor.
      { name: 'bare pg.Pool (control)', op: (id) => control.query(SQL, [id]) },
      { name: 'sy.read (replica router)', op: (id) => sy.read(SQL, [id], { model: 'items' }) },
      { name: 'sy.query (parsed, cached)', op: (id) => sy.query(SQL, [id], { model: 'items' }) },
      { name: 'sy.read, new context per query', op: (id) => withRouteContext({ tenant: `t${id % 50}` }, () => sy.read(SQL, [id], { model: 'items' })) },
    ],
    { clients, seconds, rounds: 10, nextArg },
  ))
  report(`core overhead: point query, ${clients} clients, ${seconds}s per variant, interleaved`, results)
  const [b, , r] = results
  console.log(`\nrouted/direct throughput ${(r.throughput / b.throughput).toFixed(3)} (target >= 0.97), p99 ratio ${(r.p99 / b.p99).toFixed(3)} (target <= 1.05)`)
  await bare.end()
  await control.end()
  await sy.close()
} finally {
  await admin.query(`drop database if exists "${name}" with (force)`)
  await admin.end()
}
