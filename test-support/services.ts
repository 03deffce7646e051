/**
 * Real services for the test suites: each run gets its own randomly named databases and
 * drops them afterwards. Where a server is not reachable the suite is skipped with a line
 * saying so — unless CI=true, where a missing server is a failure, never a silent skip.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import mysql from 'mysql2/promise'

export const PG_HOST = process.env.SWITCHYARD_TEST_PG_HOST ?? '127.0.0.1'
export const PG_PORT = Number(process.env.SWITCHYARD_TEST_PG_PORT ?? 5432)
export const PG_USER = process.env.SWITCHYARD_TEST_PG_USER ?? 'postgres'
export const MYSQL_HOST = process.env.SWITCHYARD_TEST_MYSQL_HOST ?? '127.0.0.1'
export const MYSQL_PORT = Number(process.env.SWITCHYARD_TEST_MYSQL_PORT ?? 3306)
export const MYSQL_USER = process.env.SWITCHYARD_TEST_MYSQL_USER ?? 'root'
export const REDIS_URL = process.env.SWITCHYARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

export type Service = 'postgres' | 'mysql' | 'redis'

const probes = new Map<Service, Promise<string | undefined>>()

/** Resolves to undefined when the service answers, else to why not. */
function probe(service: Service): Promise<string | undefined> {
  let p = probes.get(service)
  if (!p) {
    p = (async () => {
      try {
        if (service === 'postgres') {
          const c = new pg.Client({ host: PG_HOST, port: PG_PORT, user: PG_USER, database: 'postgres', connectionTimeoutMillis: 3000 })
          await c.connect()
          await c.end()
        } else if (service === 'mysql') {
          const c = await mysql.createConnection({ host: MYSQL_HOST, port: MYSQL_PORT, user: MYSQL_USER, connectTimeout: 3000 })
          await c.end()
        } else {
          const { createConnection } = await import('node:net')
          const url = new URL(REDIS_URL)
          await new Promise<void>((resolve, reject) => {
            const s = createConnection({ host: url.hostname, port: Number(url.port || 6379) }, () => {
              s.end()
              resolve()
            })
            s.setTimeout(3000, () => reject(new Error('timeout')))
            s.on('error', reject)
          })
        }
        return undefined
      } catch (err) {
        return (err as Error).message || String(err)
      }
    })()
    probes.set(service, p)
  }
  return p
}

/**
 * Whether the suites that need `service` run. Call at module top level with `await`, then
 * `describe.skipIf(!ok)`. With CI=true an unreachable service throws, failing the run.
 */
export async function serviceAvailable(service: Service): Promise<boolean> {
  const why = await probe(service)
  if (why === undefined) return true
  if (process.env.CI === 'true') throw new Error(`CI=true and ${service} is not reachable (${why}): refusing to skip its suites`)
  console.warn(`SKIPPED: ${service} suites — ${service} is not reachable (${why})`)
  return false
}

export function randomName(prefix = 'sy_test'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`
}

export interface TempDatabase {
  readonly name: string
  readonly host: string
  readonly port: number
  readonly user: string
  readonly connectionString: string
  drop(): Promise<void>
}

/** Runs `fn` on a short-lived connection to the `postgres` maintenance database. */
export async function pgAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ host: PG_HOST, port: PG_PORT, user: PG_USER, database: 'postgres' })
  await c.connect()
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

/** A fresh PostgreSQL database with a random name; `drop()` removes it (terminating leftovers). */
export async function createTempPgDatabase(prefix?: string): Promise<TempDatabase> {
  const name = randomName(prefix)
  await pgAdmin((c) => c.query(`create database "${name}"`))
  return {
    name,
    host: PG_HOST,
    port: PG_PORT,
    user: PG_USER,
    connectionString: `postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/${name}`,
    drop: () => pgAdmin((c) => c.query(`drop database if exists "${name}" with (force)`)).then(() => undefined),
  }
}

/** Drops every PostgreSQL database named `${prefix}_...` (tenant databases a test provisioned), ending their sessions. */
export async function dropPgDatabasesLike(prefix: string): Promise<void> {
  await pgAdmin(async (c) => {
    const { rows } = await c.query<{ d: string }>('select datname as d from pg_database where datname like $1', [`${prefix}\\_%`])
    for (const r of rows) await c.query(`drop database if exists "${r.d}" with (force)`)
  })
}

/** Drops every MariaDB/MySQL database named `${prefix}_...` (tenant databases a test provisioned). */
export async function dropMysqlDatabasesLike(prefix: string): Promise<void> {
  const admin = await mysql.createConnection({ host: MYSQL_HOST, port: MYSQL_PORT, user: MYSQL_USER })
  try {
    const [rows] = await admin.query<mysql.RowDataPacket[]>('select schema_name as n from information_schema.schemata where schema_name like ?', [`${prefix}\\_%`])
    for (const r of rows) await admin.query(`drop database if exists \`${String(r.n)}\``)
  } finally {
    await admin.end()
  }
}

/** A fresh MariaDB/MySQL database with a random name. */
export async function createTempMysqlDatabase(prefix?: string): Promise<TempDatabase> {
  const name = randomName(prefix)
  const c = await mysql.createConnection({ host: MYSQL_HOST, port: MYSQL_PORT, user: MYSQL_USER })
  await c.query(`create database \`${name}\``)
  await c.end()
  return {
    name,
    host: MYSQL_HOST,
    port: MYSQL_PORT,
    user: MYSQL_USER,
    connectionString: `mysql://${MYSQL_USER}@${MYSQL_HOST}:${MYSQL_PORT}/${name}`,
    async drop() {
      const d = await mysql.createConnection({ host: MYSQL_HOST, port: MYSQL_PORT, user: MYSQL_USER })
      try {
        await d.query(`drop database if exists \`${name}\``)
      } finally {
        await d.end()
      }
    },
  }
}
