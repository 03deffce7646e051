// POST /api/card/:id/query through the real HTTP server (3 destinations, a routed viewer)
// against the same point query on a bare pg.Pool, interleaved in one run.
// The server runs in its own process (serve.mjs), as deployed, and the load generator in another
// (load.mjs), warmed once; this process only drives them and runs the bare pool, twice: as it
// comes (the target's baseline) and with a prepared statement, as the server runs a question.
// The HTTP floor (floor.mjs: Fastify and a pg.Pool with the prepared statement, nothing else)
// splits the gap in two: HTTP and a process hop (floor against the prepared bare pool), and
// Switchyard itself (server against floor).
// Two loads, each run on all three variants:
// - saturated (BENCH_CLIENTS connections, default 16), where throughput is compared and p50 is
//   mostly queueing (Little's law: connections / throughput);
// - one connection, back to back, where p50 is what the server adds to a single request with no
//   queue. (A paced load at a fixed rate was tried: on this VM its p50 is dominated by waking
//   idle processes — the HTTP floor measured 1.2 ms at 250 req/s against 0.18 ms back to back —
//   so it measures the host's scheduler, not the server.)
// Usage: npm run build && node bench/server-routing/index.mjs
//   BENCH_SECONDS (saturated, per variant, default 10), BENCH_ROUNDS (2), BENCH_UNLOADED_SECONDS
//   (one connection, per variant, default 4)
import pg from 'pg'
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { percentile, runRound } from '../lib/measure.mjs'

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
const children = []
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
  const details = names.map((dbname) => ({ host, port, dbname, user }))
  const server = child('serve.mjs', { storeUrl: `postgres://${encodeURIComponent(user)}@${host}:${port}/${storeDb}`, dataDir, details, destinations })
  const floor = child('floor.mjs', { details })
  children.push(server, floor)
  const body = JSON.stringify({ parameters: [{ type: 'number/=', target: ['variable', ['template-tag', 'id']], value: 4242 }] })
  /** One HTTP variant: its server process and a load generator of its own, checked to answer the row. */
  const httpVariant = async (name, proc, headers) => {
    const { address, cardId } = await proc.first
    const url = `${address}/api/card/${cardId}/query`
    const all = { 'content-type': 'application/json', ...headers }
    const checked = await (await fetch(url, { method: 'POST', headers: all, body })).json()
    if (checked.status !== 'completed' || checked.row_count !== 1) throw new Error(`${name}: card query failed: ${JSON.stringify(checked)}`)
    const load = child('load.mjs', { url, headers: all, body })
    children.push(load)
    await load.first
    const cpu = async () => {
      const { cpu: c } = await proc.ask({ cpu: true })
      return c.user + c.system
    }
    return { name, run: (o) => load.ask(o), cpu }
  }
  const { viewer } = await server.first
  const sy = await httpVariant('switchyard server (HTTP)', server, { 'x-metabase-session': viewer })
  const fl = await httpVariant('HTTP floor (Fastify + pg.Pool)', floor, {})
  bare = new pg.Pool({ host, port, user, database: names[1], max: 10, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000 })
  /** The bare pool in this process, shaped like an HTTP variant's answer. */
  const directVariant = (name, one) => ({
    name,
    async run({ ms, connections: clients }) {
      const { latencies } = await runRound(one, { clients, ms, nextArg: () => 4242 })
      const sorted = Float64Array.from(latencies).sort()
      return { total: sorted.length, duration: ms / 1000, p50: percentile(sorted, 50), p99: percentile(sorted, 99), errors: 0, non2xx: 0 }
    },
  })
  // The baseline: pg.Pool as it comes, which parses and plans the statement on every call.
  const direct = directVariant('bare pg.Pool', () => bare.query(SQL, [4242]))
  // The server prepares a question's statement once per connection (as the floor does): against
  // this baseline, which does too, the ratio shows what the server costs apart from that.
  const prepared = directVariant('bare pg.Pool, prepared statement', () => bare.query({ name: 'point', text: SQL, values: [4242] }))
  const variants = [direct, prepared, fl, sy]

  // Warm-up: pools open, plans cached, every process's JIT warm.
  for (const v of variants) await v.run({ ms: 3000, connections })

  /** Runs each variant `rounds` times under one load, rotating the order each round; sums per variant. */
  const measure = async (load, rounds) => {
    const acc = new Map(variants.map((v) => [v, { total: 0, seconds: 0, p50: [], p99: [], errors: 0, non2xx: 0, cpu: 0 }]))
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(r + k) % variants.length]
        const a = acc.get(v)
        const cpu0 = await v.cpu?.()
        const res = await v.run(load)
        if (v.cpu) a.cpu += (await v.cpu()) - cpu0
        a.total += res.total
        a.seconds += res.duration
        a.p50.push(res.p50)
        a.p99.push(res.p99)
        a.errors += res.errors
        a.non2xx += res.non2xx
      }
    }
    // The worst round's percentiles: a bad round is not averaged away.
    return new Map([...acc].map(([v, a]) => [v, { rps: a.total / a.seconds, p50: Math.max(...a.p50), p99: Math.max(...a.p99), cpuPerRequest: a.cpu / a.total, failed: a.errors + a.non2xx }]))
  }
  const saturated = await measure({ ms: (seconds * 1000) / rounds, connections }, rounds)
  const single = await measure({ ms: unloadedSeconds * 1000, connections: 1 }, 1)

  const f = (x, digits = 3) => x.toFixed(digits).padStart(9)
  console.log(`\nserver routing: POST /api/card/:id/query (3 destinations, routed viewer) vs bare pg.Pool, interleaved`)
  console.log('variant'.padEnd(44), 'req/s'.padStart(9), 'p50 ms'.padStart(9), 'p99 ms'.padStart(9))
  for (const [label, results] of [
    [`saturated, ${connections} connections, ${seconds}s each in ${rounds} rounds`, saturated],
    ['one connection', single],
  ]) {
    console.log(label)
    for (const v of variants) {
      const r = results.get(v)
      console.log(`  ${v.name}`.padEnd(44), f(r.rps, 0), f(r.p50), f(r.p99))
    }
  }
  const [sb, sp, sf, ss] = variants.map((v) => saturated.get(v))
  const added = (results) => results.get(sy).p50 - results.get(direct).p50
  console.log(`\nserver/bare throughput ${(ss.rps / sb.rps).toFixed(3)} (target >= 0.40); server/bare prepared ${(ss.rps / sp.rps).toFixed(3)}`)
  console.log(`floor/bare prepared ${(sf.rps / sp.rps).toFixed(3)} (HTTP's share), server/floor ${(ss.rps / sf.rps).toFixed(3)} (Switchyard's)`)
  console.log(`added p50 over bare: one connection ${added(single).toFixed(3)} ms (target < 1 ms); saturated ${added(saturated).toFixed(3)} ms (queueing: ${connections} / throughput)`)
  console.log(`process CPU per request, saturated: server ${ss.cpuPerRequest.toFixed(1)} µs, floor ${sf.cpuPerRequest.toFixed(1)} µs`)
  const failed = [saturated, single].reduce((n, results) => n + [...results.values()].reduce((m, r) => m + r.failed, 0), 0)
  if (failed > 0) throw new Error(`${failed} requests failed or answered non-2xx`)
} finally {
  for (const c of children) await c.stop({ exit: true, close: true })
  await bare?.end()
  for (const name of [...names, storeDb]) await admin.query(`drop database if exists "${name}" with (force)`)
  await admin.end()
  await rm(dataDir, { recursive: true, force: true })
}
