import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EnginePool } from '../../src/index.js'
import { sqlite } from '../../src/engines/sqlite/index.js'
import { MigrateProgressError, TenantManager, type TenantMigration } from '../../src/tenancy/index.js'
import { portableBase } from './portable-fixtures.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('an onProgress callback that throws', () => {
  let dir: string
  let pool: EnginePool

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sy-progress-'))
    pool = sqlite({ filename: join(dir, 'main.sqlite') }).createPool()
  })
  afterAll(async () => {
    await pool?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('starts no further tenant, lets the running ones finish, then rejects with the exact result', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `k${String(i).padStart(2, '0')}`)
    const base = new TenantManager({ pool, mapping: 'pr_{key}', migrations: portableBase })
    for (const k of keys) await base.provision(k)

    const running = new Set<string>()
    let finishedAfterThrow = 0
    let thrown = false
    const slow: TenantMigration = {
      name: '003_slow',
      async up(db) {
        running.add(db.tenant)
        await sleep(db.tenant === 'k00' ? 5 : 60)
        await db.query(`insert into applied (name) values ('003')`)
        running.delete(db.tenant)
        if (thrown) finishedAfterThrow++
      },
    }
    const manager = new TenantManager({ pool, mapping: 'pr_{key}', migrations: [...portableBase, slow] })
    const err = await manager
      .migrate({
        concurrency: 3,
        onProgress: () => {
          thrown = true
          throw new Error('progress bar crashed')
        },
      })
      .catch((e: unknown) => e)

    expect(err).toBeInstanceOf(MigrateProgressError)
    const error = err as MigrateProgressError
    expect(error.message).toMatch(/onProgress threw \(progress bar crashed\); no further tenant was started/)
    expect((error.cause as Error).message).toBe('progress bar crashed')
    // It rejected only after the two tenants still migrating had finished: nothing runs behind the caller's back.
    expect(running.size).toBe(0)
    expect(finishedAfterThrow).toBe(2)
    const { migrated, notStarted, failed } = error.result
    expect(failed).toEqual([])
    expect(migrated).toHaveLength(3)
    expect(notStarted).toHaveLength(keys.length - 3)
    expect([...migrated, ...notStarted].sort()).toEqual(keys)

    // The result is the truth: a second migrate applies exactly the tenants not started.
    const rest = await manager.migrate({ concurrency: 3 })
    expect(rest.migrated.sort()).toEqual([...notStarted].sort())
    expect(rest.skipped.sort()).toEqual([...migrated].sort())
  })
})
