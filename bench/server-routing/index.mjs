// POST /api/card/:id/query through the real HTTP server (3 destinations, a routed viewer)
// against the same point query on a bare pg.Pool, interleaved in one run.
// autocannon runs in a child process so the load generator does not share the server's event loop.
// Usage: npm run build && node bench/server-routing/index.mjs   (BENCH_SECONDS per variant, default 10)
import pg from 'pg'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildApp } from '../../packages/server/dist/index.js'
import { runRound, percentile } from '../lib/measure.mjs'

const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const connections = Number(process.env.BENCH_CLIENTS ?? 16)
// The same variables as the test suites (test-support/services.ts), then libpq's.
const host = process.env.SWITCHYARD_TEST_PG_HOST ?? process.env.PGHOST ?? '127.0.0.1'
const port = Number(process.env.SWITCHYARD_TEST_PG_PORT ?? process.env.PGPORT ?? 5432)
const user = process.env.SWITCHYARD_TEST_PG_USER ?? process.env.PGUSER ?? 'postgres'
const run = `sy_bench_srv_${randomBytes(4).toString('hex')}`
const names = ['router', 'acme', 'globex', 'initech'].map((n) => `${run}_${n}`)
// The metadata store as deployed for scale-out: PostgreSQL (SWITCHYARD_DATABASE_URL), not embedded PGlite,
// whose WebAssembly runs on the server's own event loop.
const storeDb = `${run}_store`
const SQL = 'select id, name, qty from items where id = $1'
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

const admin = new pg.Client({ host, port, user, database: 'postgres' })
await admin.connect()
const dataDir = await mkdtemp(join(tmpdir(), 'sy-bench-'))
let app
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
  app = await buildApp({ databaseUrl: `postgres://${encodeURIComponent(user)}@${host}:${port}/${storeDb}`, dataDir, logger: false })
  const call = async (method, url, payload, headers = {}) => {
    const res = await app.inject({ method, url, payload, headers })
    if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`)
    return res.json()
  }
  const details = (db) => ({ host, port, dbname: db, user })
  const { id: session } = await call('POST', '/api/setup', { user: { email: 'bench@x.test', password: 'bench-password' } })
  const auth = { 'x-metabase-session': session }
  const router = await call('POST', '/api/database', { engine: 'postgres', name: 'Router', details: details(names[0]) }, auth)
  await call('PUT', `/api/ee/database-routing/router-database/${router.id}`, { user_attribute: 'tenant' }, auth)
  await call('POST', '/api/ee/database-routing/mirror-database?check_connection_details=true', {
    router_database_id: router.id,
    mirrors: names.slice(1).map((db, i) => ({ name: ['acme', 'globex', 'initech'][i], engine: 'postgres', details: details(db) })),
  }, auth)
  await call('POST', '/api/user', { email: 'viewer@acme.test', password: 'viewer-password', login_attributes: { tenant: 'acme' } }, auth)
  const { id: viewer } = await call('POST', '/api/session', { username: 'viewer@acme.test', password: 'viewer-password' })
  const card = await call('POST', '/api/card', {
    name: 'point',
    dataset_query: { database: router.id, type: 'native', native: { query: 'select id, name, qty from items where id = {{id}}', 'template-tags': { id: { type: 'number' } } } },
  }, auth)
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  const body = JSON.stringify({ parameters: [{ type: 'number/=', target: ['variable', ['template-tag', 'id']], value: 4242 }] })
  const check = await fetch(`${address}/api/card/${card.id}/query`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-metabase-session': viewer }, body })
  const checked = await check.json()
  if (checked.status !== 'completed' || checked.row_count !== 1) throw new Error(`card query failed: ${JSON.stringify(checked)}`)

  const bare = new pg.Pool({ host, port, user, database: names[1], max: 10, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000 })
  const autocannon = (ms) =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [join(root, 'node_modules/autocannon/autocannon.js'), '-j', '-c', String(connections), '-d', String(ms / 1000), '-m', 'POST',
        '-H', 'content-type=application/json', '-H', `x-metabase-session=${viewer}`, '-b', body, `${address}/api/card/${card.id}/query`], { stdio: ['ignore', 'pipe', 'ignore'] })
      let out = ''
      child.stdout.on('data', (d) => (out += d))
      child.on('error', reject)
      child.on('close', () => {
        try {
          resolve(JSON.parse(out))
        } catch (err) {
          reject(new Error(`autocannon output: ${out.slice(0, 200)}`))
        }
      })
    })

  await autocannon(2000) // warm-up: pools open, plans cached
  if (process.env.BENCH_SERVER_ONLY) {
    // Profiling aid: load the server alone, no baseline rounds.
    const a = await autocannon(Number(process.env.BENCH_SERVER_ONLY) * 1000)
    console.log('server only req/s', a.requests.average, 'p50', a.latency.p50, 'p99', a.latency.p99)
    process.exitCode = 0
  } else {
  await runRound((id) => bare.query(SQL, [id]), { clients: connections, ms: 1000, nextArg: () => 4242 })
  const server = { requests: 0, ms: 0, p50: [], p99: [], errors: 0, non2xx: 0 }
  const direct = { latencies: [], ms: 0 }
  const roundMs = (seconds * 1000) / rounds
  for (let r = 0; r < rounds; r++) {
    const a = await autocannon(roundMs)
    server.requests += a.requests.total
    server.ms += roundMs
    server.p50.push(a.latency.p50)
    server.p99.push(a.latency.p99)
    server.errors += a.errors
    server.non2xx += a.non2xx
    const d = await runRound((id) => bare.query(SQL, [id]), { clients: connections, ms: roundMs, nextArg: () => 4242 })
    direct.latencies.push(...d.latencies)
    direct.ms += d.ms
  }
  const sorted = Float64Array.from(direct.latencies).sort()
  const d = { rps: sorted.length / (direct.ms / 1000), p50: percentile(sorted, 50), p99: percentile(sorted, 99) }
  const s = { rps: server.requests / (server.ms / 1000), p50: Math.max(...server.p50), p99: Math.max(...server.p99) }
  console.log(`\nserver routing: POST /api/card/:id/query (3 destinations, routed viewer) vs bare pg.Pool, ${connections} connections, ${seconds}s each, interleaved`)
  console.log('variant'.padEnd(28), 'req/s'.padStart(9), 'p50 ms'.padStart(9), 'p99 ms'.padStart(9))
  console.log('bare pg.Pool'.padEnd(28), d.rps.toFixed(0).padStart(9), d.p50.toFixed(3).padStart(9), d.p99.toFixed(3).padStart(9))
  console.log('switchyard server (HTTP)'.padEnd(28), s.rps.toFixed(0).padStart(9), s.p50.toFixed(3).padStart(9), s.p99.toFixed(3).padStart(9))
  console.log(`\nserver/bare throughput ${(s.rps / d.rps).toFixed(3)} (target >= 0.40); added p50 ${(s.p50 - d.p50).toFixed(3)} ms (target < 1 ms); errors ${server.errors}, non-2xx ${server.non2xx}`)
  console.log('(autocannon reports whole-millisecond percentiles; the worst round is shown)')
  }
  await bare.end()
} finally {
  await app?.close()
  for (const name of [...names, storeDb]) await admin.query(`drop database if exists "${name}" with (force)`)
  await admin.end()
  await rm(dataDir, { recursive: true, force: true })
}
