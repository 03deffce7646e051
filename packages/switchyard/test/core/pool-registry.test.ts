import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSwitchyard, PoolRegistry } from '../../src/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import type { EnginePool, EngineSpec } from '../../src/engines/types.js'
import { ConfigurationError, PoolClosedError, UnknownAliasError } from '../../src/errors.js'
import { createTempPgDatabase, serviceAvailable, type TempDatabase } from '../../../../test-support/services.js'

const ok = await serviceAvailable('postgres')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.skipIf(!ok)('PoolRegistry: closing and failing cleanly', () => {
  let db: TempDatabase
  let spec: EngineSpec

  beforeAll(async () => {
    db = await createTempPgDatabase()
    spec = postgres({ connectionString: db.connectionString, max: 2 })
  })
  afterAll(async () => {
    await db?.drop()
  })

  /** The same spec, remembering every pool it opens. */
  function tracked(opened: EnginePool[]): EngineSpec {
    return { ...spec, createPool: () => { const p = spec.createPool(); opened.push(p); return p } }
  }

  it('close() waits for pools still being opened, leaves none behind, and later acquires fail with POOL_CLOSED', async () => {
    const opened: EnginePool[] = []
    let resolverDone = false
    const registry = new PoolRegistry({
      databases: { main: tracked(opened) },
      resolveAlias: async () => {
        await sleep(200)
        resolverDone = true
        return tracked(opened)
      },
    })
    // One pool open and busy, one being resolved, when close() is called.
    const busy = await registry.acquire('main')
    const slow = busy.pool.query<{ v: number }>('select 7 as v, pg_sleep(0.1)')
    const opening = registry.acquire('tenant:late').then(
      () => 'acquired',
      (e: unknown) => e,
    )
    await sleep(20)
    const closing = registry.close()
    busy.release()
    // The busy pool drains within ~200 ms as well; close() must also outwait the resolver.
    await closing
    expect(resolverDone).toBe(true)
    // The statement in flight finished; the open in flight was refused, not left open.
    expect((await slow).rows[0]?.v).toBe(7)
    expect(await opening).toBeInstanceOf(PoolClosedError)
    expect(opened).toHaveLength(1)
    expect(registry.stats()).toMatchObject({ openPools: 0, resolvedPools: 0 })
    await expect(opened[0]!.query('select 1')).rejects.toMatchObject({ code: 'POOL_CLOSED' })

    const err = await registry.acquire('main').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PoolClosedError)
    expect(err).toMatchObject({ code: 'POOL_CLOSED' })
    expect((err as Error).message).toMatch(/closed/)
    expect(registry.tryAcquire('main')).toBeUndefined()
  })

  it('close() also waits for an open that is waiting for room under maxOpenPools, and that open fails', async () => {
    const opened: EnginePool[] = []
    const registry = new PoolRegistry({ databases: {}, resolveAlias: () => tracked(opened), maxOpenPools: 1, maxConnections: 2 })
    const first = await registry.acquire('tenant:a')
    const slow = first.pool.query('select pg_sleep(0.2)')
    // No room until tenant:a's pool drains: this open waits.
    const waiting = registry.acquire('tenant:b').then(
      () => 'acquired',
      (e: unknown) => e,
    )
    await sleep(20)
    const closing = registry.close()
    first.release()
    await closing
    await slow
    expect(await waiting).toBeInstanceOf(PoolClosedError)
    expect(opened).toHaveLength(1)
  })

  it('a resolver that throws is a ConfigurationError naming the alias, with the thrown error as cause', async () => {
    const boom = new Error('tenant directory is down')
    const sy = createSwitchyard({ databases: {}, resolveAlias: () => { throw boom } })
    try {
      const err = await sy.on('tenant:acme').read('select 1').catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ConfigurationError)
      expect(err).toMatchObject({ code: 'CONFIGURATION', cause: boom })
      expect((err as Error).message).toMatch(/resolveAlias\('tenant:acme'\) threw: tenant directory is down/)
      // Rejections are wrapped the same way as throws.
      const rejecting = new PoolRegistry({ databases: {}, resolveAlias: () => Promise.reject(boom) })
      await expect(rejecting.acquire('tenant:x')).rejects.toMatchObject({ code: 'CONFIGURATION', cause: boom })
      await expect(rejecting.spec('tenant:x')).rejects.toMatchObject({ code: 'CONFIGURATION', cause: boom })
    } finally {
      await sy.close()
    }
  })

  it('a resolver that answers nothing is UNKNOWN_ALIAS; one that answers a non-spec is a ConfigurationError', async () => {
    const registry = new PoolRegistry({
      databases: {},
      resolveAlias: (alias) => (alias === 'tenant:odd' ? ({ host: 'db' } as unknown as EngineSpec) : undefined),
    })
    await expect(registry.acquire('tenant:none')).rejects.toBeInstanceOf(UnknownAliasError)
    const err = await registry.acquire('tenant:odd').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigurationError)
    expect((err as Error).message).toMatch(/resolveAlias\('tenant:odd'\) returned something that is not an engine spec/)
  })

  it('createPool throwing is a ConfigurationError with the cause, and its reservation is given back', async () => {
    const cause = new TypeError('driver not installed')
    const registry = new PoolRegistry({
      databases: {},
      maxOpenPools: 1,
      maxConnections: 2,
      resolveAlias: (alias) => (alias === 'tenant:broken' ? { ...spec, createPool: () => { throw cause } } : spec),
    })
    try {
      const err = await registry.acquire('tenant:broken').catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ConfigurationError)
      expect(err).toMatchObject({ cause })
      expect((err as Error).message).toMatch(/Cannot open a postgres pool for alias 'tenant:broken': driver not installed/)
      expect(registry.stats()).toMatchObject({ openPools: 0, connectionBudgetUsed: 0 })
      // The one pool slot and the whole budget are free again.
      const lease = await registry.acquire('tenant:fine')
      expect((await lease.pool.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }])
      lease.release()
    } finally {
      await registry.close()
    }
  })
})
