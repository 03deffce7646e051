import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp, type SwitchyardServer } from '../src/index.js'
import { DEMO_ADMIN, DEMO_CARD, DemoIncompleteError, seedDemo } from '../src/demo.js'

// Embedded PGlite only: the demo needs no database server.
describe('the demo seed', () => {
  let dataDir: string
  let app: SwitchyardServer
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sy-demo-'))
  })
  afterAll(async () => {
    await app?.close()
    await rm(dataDir, { recursive: true, force: true })
  })

  it('refuses a data directory left half-seeded instead of serving it as complete', async () => {
    const half = await mkdtemp(join(tmpdir(), 'sy-demo-half-'))
    const partial = await buildApp({ dataDir: half, allowEmbedded: true, logger: false })
    try {
      // The first step of a seed that then stopped: only the admin exists.
      expect((await partial.inject({ method: 'POST', url: '/api/setup', payload: { user: DEMO_ADMIN } })).statusCode).toBe(200)
      const err = await seedDemo(partial).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(DemoIncompleteError)
      expect((err as DemoIncompleteError).code).toBe('DEMO_INCOMPLETE')
      expect((err as DemoIncompleteError).missing).toEqual(expect.arrayContaining(['user acme@switchyard.local', 'router database Sample', `question "${DEMO_CARD}"`]))
      expect((err as Error).message).toMatch(/Remove the directory/)
    } finally {
      await partial.close()
      await rm(half, { recursive: true, force: true })
    }
  }, 120_000)

  it('seeds once, reuses a complete seed, and refuses it once a seeded part is gone', async () => {
    app = await buildApp({ dataDir, allowEmbedded: true, logger: false })
    const info = await seedDemo(app)
    expect(info?.users.map((u) => u.tenant)).toEqual(['acme', 'globex', 'initech'])
    const acme = info!.users[0]!
    const login = await app.inject({ method: 'POST', url: '/api/session', payload: { username: acme.email, password: acme.password } })
    const run = await app.inject({ method: 'POST', url: `/api/card/${info!.cardId}/query`, headers: { 'x-metabase-session': login.json<{ id: string }>().id }, payload: {} })
    expect(new Set(run.json<{ data: { rows: unknown[][] } }>().data.rows.map((r) => r[0]))).toEqual(new Set(['acme']))
    expect(await seedDemo(app)).toBeUndefined()
    await app.switchyard.store.query('delete from cards where name = $1', [DEMO_CARD])
    await expect(seedDemo(app)).rejects.toThrow(/missing: question "Products under a price"/)
    // Four embedded PGlite databases start here: slow on a shared machine.
  }, 180_000)
})
