import mysql2 from 'mysql2/promise'
import { describe, expect, it } from 'vitest'
import { mysql } from '../../src/engines/mysql/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { RollbackFailedError, SwitchyardError, rollbackErrorOf } from '../../src/errors.js'
import { MYSQL_HOST, MYSQL_PORT, MYSQL_USER, createTempMysqlDatabase, createTempPgDatabase, pgAdmin, serviceAvailable } from '../../../../test-support/services.js'

const pgOk = await serviceAvailable('postgres')
const myOk = await serviceAvailable('mysql')

/** The transaction body's error must reach the caller even when ROLLBACK fails too. */
function expectOriginalWithRollbackFailure(err: unknown): void {
  expect(err).toBeInstanceOf(Error)
  expect((err as Error).message).toBe('the real failure')
  const rollback = rollbackErrorOf(err)
  expect(rollback).toBeInstanceOf(RollbackFailedError)
  expect(rollback?.code).toBe('ROLLBACK_FAILED')
  // The driver's failure, mapped and kept as the cause.
  expect(rollback?.cause).toBeInstanceOf(SwitchyardError)
}

describe.skipIf(!pgOk)('postgres: a failed ROLLBACK', () => {
  it('keeps the original error, attaches the rollback failure, and the pool recovers', async () => {
    const db = await createTempPgDatabase()
    const pool = postgres({ connectionString: db.connectionString, max: 1 }).createPool()
    try {
      const err = await pool
        .transaction(async (tx) => {
          const { rows } = await tx.query<{ pid: number }>('select pg_backend_pid() as pid')
          // The server goes away mid-transaction: the ROLLBACK after the body fails cannot be sent.
          await pgAdmin((c) => c.query('select pg_terminate_backend($1)', [rows[0]!.pid]))
          await new Promise((r) => setTimeout(r, 100))
          throw new Error('the real failure')
        })
        .catch((e: unknown) => e)
      expectOriginalWithRollbackFailure(err)
      const { rows } = await pool.query<{ one: number }>('select 1 as one')
      expect(rows).toEqual([{ one: 1 }])
    } finally {
      await pool.close()
      await db.drop()
    }
  })
})

describe.skipIf(!myOk)('mysql: a failed ROLLBACK', () => {
  it('keeps the original error, attaches the rollback failure, and never reuses the connection', async () => {
    const db = await createTempMysqlDatabase()
    const pool = mysql({ host: db.host, port: db.port, user: db.user, database: db.name, max: 1 }).createPool()
    const admin = await mysql2.createConnection({ host: MYSQL_HOST, port: MYSQL_PORT, user: MYSQL_USER })
    try {
      const err = await pool
        .transaction(async (tx) => {
          const { rows } = await tx.query<{ id: number }>('select connection_id() as id')
          await admin.query(`KILL ${Number(rows[0]!.id)}`)
          await new Promise((r) => setTimeout(r, 100))
          throw new Error('the real failure')
        })
        .catch((e: unknown) => e)
      expectOriginalWithRollbackFailure(err)
      const { rows } = await pool.query<{ one: number }>('select 1 as one')
      expect(rows).toEqual([{ one: 1 }])
    } finally {
      await admin.end()
      await pool.close()
      await db.drop()
    }
  })
})
