// POST /api/card/:id/query through the real HTTP server (3 destinations, a routed viewer)
// against the same point query on a bare pg.Pool, interleaved in one run.
// The server runs in its own process (serve.mjs), as deployed, and autocannon in another
// (load.mjs), warmed once; this process only drives them and runs the bare pool.
// Two loads: saturated (BENCH_CLIENTS connections, default 16), where throughput is compared and
// p50 is mostly queueing (Little's law: connections / throughput), and one connection, where
// p50 is what the server adds to a single request.
// Usage: npm run build && node bench/server-routing/index.mjs
//   BENCH_SECONDS (saturated, per variant, default 10), BENCH_ROUNDS (2), BENCH_UNLOADED_SECONDS (4)
import pg from 'pg'
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runRound, percentile } from '../lib/measure.mjs'

const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const unloadedSeconds = Number(process.env.BENCH_UNLOADED_SECONDS ?? 4)
const connections = Number(process.env.BENCH_CLIENTS ?? 16)
// The same variables as the test suites (test-support/services.ts), then libpq's.
const host = process.env.SWITCHYARD_TEST_PG_HOST ?? process.env.PGHOST ?? '127.0.0.1'
const port = Number(process.env.SWITCHYARD_TEST_PG_PORT ?? process.env.PGPORT ?? 5432)
const user = process.env.SWITCHYARD_TEST_PG_USER ?? process.env.PGUSER ?? 'postgres'
const run = `sy_bench_srv_${randomBytes(4).toString('hex')}`
const destinations = ['acme', 'globex', 'initech']
const names = ['router', ...destinations].map((n) => `${run}_${n}`)
// The metadata store as deployed for scale-out: PostgreSQL (SWITCHYARD_DATABASE_URL), not embedded PGlite,
// whose WebAssembly runs on the server's own event loop.
const storeDb = `${run}_store`
const SQL = 'select id, name, qty from items where id = $1'
const here = dirname(fileURLToPath(import.meta.url))

/** A child process spoken to over IPC: send a message, await its next reply. */
function child(script, arg) {
  const proc = fork(join(here, script), [JSON.stringify(arg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  let waiting
  proc.on('message', (m) => {
    const w = waiting
    waiting = undefined
    if (!w) return
    if (m.error) w.reject(new Error(`${script}: ${m.error}`))
    else w.resolve(m)
  })
  proc.on('exit', (code) => waiting?.reject(new Error(`${script} exited with ${code}`)))
  const next = () => new Promise((resolve, reject) => (waiting = { resolve, reject }))
  return {
    proc,
    first: next(),
    ask(msg) {
      const reply = next()
      proc.send(msg)
      return reply
    },
    stop(msg) {
      if (proc.exitCode === null) proc.send(msg)
      return new Promise((resolve) => (proc.exitCode !== null ? resolve() : proc.once('exit', resolve)))
    },
  }
}

const admin = new pg.Client({ host, port, user, database: 'postgres' })
await admin.connect()
const dataDir = await mkdtemp(join(tmpdir(), 'sy-bench-'))
let server
let load
let bare
try {
  for (const name of names) {
    await admin.query(`create database "${name}"`)
    const c = new pg.Client({ host, port, user, database: name })
    await c.connect()
    await c.query('create table items (id int primary key, name text not null, qty int not null)')
    await c.query(`insert into items select g, 'item ' || g, g % 100 from generate_series(1, 10000) g`)
    await c.end()
  }
  await admin.query(`create database "${storeDb}"`)
  server = child('serve.mjs', {
    storeUrl: `postgres://${encodeURIComponent(user)}@${host}:${port}/${storeDb}`,
    dataDir,
    details: names.map((dbname) => ({ host, port, dbname, user })),
    destinations,
  })
  const { address, viewer, cardId } = await server.first
  const url = `${address}/api/card/${cardId}/query`
  const headers = { 'content-type': 'application/json', 'x-metabase-session': viewer }
  const body = JSON.stringify({ parameters: [{ type: 'number/=', target: ['variable', ['template-tag', 'id']], value: 4242 }] })
  const checked = await (await fetch(url, { method: 'POST', headers, body })).json()
  if (checked.status !== 'completed' || checked.row_count !== 1) throw new Error(`card query failed: ${JSON.stringify(checked)}`)

  load = child('load.mjs', { url, headers, body })
  await load.first
  bare = new pg.Pool({ host, port, user, database: names[1], max: 10, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000 })
  const direct = (clients, ms) => runRound((id) => bare.query(SQL, [id]), { clients, ms, nextArg: () => 4242 })
  const cpuMicros = async () => {
    const { cpu } = await server.ask({ cpu: true })
    return cpu.user + cpu.system
  }

  // Warm-up: pools open, plans cached, both processes' JIT warm.
  await load.ask({ ms: 3000, connections })
  await direct(connections, 1000)

  const srv = { requests: 0, seconds: 0, p50: [], p99: [], errors: 0, non2xx: 0, cpu: 0 }
  const dir = { latencies: [], ms: 0 }
  const roundMs = (seconds * 1000) / rounds
  for (let r = 0; r < rounds; r++) {
    const cpu0 = await cpuMicros()
    const a = await load.ask({ ms: roundMs, connections })
    srv.cpu += (await cpuMicros()) - cpu0
    srv.requests += a.total
    srv.seconds += a.duration
    srv.p50.push(a.p50)
    srv.p99.push(a.p99)
    srv.errors += a.errors
    srv.non2xx += a.non2xx
    const d = await direct(connections, roundMs)
    dir.latencies.push(...d.latencies)
    dir.ms += d.ms
  }
  const sorted = Float64Array.from(dir.latencies).sort()
  const d = { rps: sorted.length / (dir.ms / 1000), p50: percentile(sorted, 50), p99: percentile(sorted, 99) }
  const s = { rps: srv.requests / srv.seconds, p50: Math.max(...srv.p50), p99: Math.max(...srv.p99) }

  // One connection: no queue, so p50 is the cost of one request on each path.
  const one = await load.ask({ ms: unloadedSeconds * 1000, connections: 1 })
  const oneDirect = Float64Array.from((await direct(1, unloadedSeconds * 1000)).latencies).sort()
  const d1 = { rps: oneDirect.length / unloadedSeconds, p50: percentile(oneDirect, 50), p99: percentile(oneDirect, 99) }
  const s1 = { rps: one.total / one.duration, p50: one.p50, p99: one.p99 }

  const row = (label, v) => console.log(label.padEnd(40), v.rps.toFixed(0).padStart(9), v.p50.toFixed(3).padStart(9), v.p99.toFixed(3).padStart(9))
  console.log(`\nserver routing: POST /api/card/:id/query (3 destinations, routed viewer) vs bare pg.Pool, ${seconds}s each saturated in ${rounds} interleaved rounds`)
  console.log('variant'.padEnd(40), 'req/s'.padStart(9), 'p50 ms'.padStart(9), 'p99 ms'.padStart(9))
  row(`bare pg.Pool, ${connections} clients`, d)
  row(`switchyard server (HTTP), ${connections} connections`, s)
  row('bare pg.Pool, 1 client', d1)
  row('switchyard server (HTTP), 1 connection', s1)
  console.log(`\nserver/bare throughput ${(s.rps / d.rps).toFixed(3)} (target >= 0.40)`)
  console.log(`added p50, 1 connection ${(s1.p50 - d1.p50).toFixed(3)} ms (target < 1 ms); saturated ${(s.p50 - d.p50).toFixed(3)} ms (queueing: ${connections} / throughput)`)
  console.log(`server process CPU ${(srv.cpu / srv.requests).toFixed(1)} µs/request; errors ${srv.errors}, non-2xx ${srv.non2xx}; the worst round's percentiles are shown`)
} finally {
  await load?.stop({ exit: true })
  await server?.stop({ close: true })
  await bare?.end()
  for (const name of [...names, storeDb]) await admin.query(`drop database if exists "${name}" with (force)`)
  await admin.end()
  await rm(dataDir, { recursive: true, force: true })
}
