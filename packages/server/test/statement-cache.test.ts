import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigurationError } from 'switchyard'
import { serviceAvailable, type TempDatabase } from '../../../test-support/services.js'
import { buildApp } from '../src/index.js'
import { startServer, type TestServer } from './support/server.js'
import { detailsOf, tenantDatabases } from './support/tenants.js'

const ok = await serviceAvailable('postgres')

describe.skipIf(!ok)('questions on PostgreSQL run as statements prepared per connection', () => {
  let dbs: Map<string, TempDatabase>
  const servers: TestServer[] = []
  beforeAll(async () => {
    dbs = await tenantDatabases(['stmt'])
  }, 60_000)
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()))
    await Promise.all([...(dbs?.values() ?? [])].map((d) => d.drop()))
  })

  /**
   * Runs a question four times (a statement is prepared on its third run), then asks the same pool which statements its connection holds.
   * Requests one after another share one connection (pg-pool hands out the last one released),
   * and the asking query has no parameters, so it prepares nothing itself.
   */
  async function preparedAfterFourRuns(pgStatementCache: number | undefined): Promise<unknown[]> {
    const s = await startServer(pgStatementCache === undefined ? {} : { pgStatementCache })
    servers.push(s)
    const db = await s.request('POST', '/api/database', { apiKey: s.apiKey, payload: { engine: 'postgres', name: 'Orders', details: detailsOf(dbs.get('stmt')!) } })
    const database = db.json<{ id: number }>().id
    const card = await s.request('POST', '/api/card', {
      apiKey: s.apiKey,
      payload: { name: 'One', dataset_query: { database, type: 'native', native: { query: 'select total from orders where id = {{id}}', 'template-tags': { id: { type: 'number' } } } } },
    })
    const parameters = [{ type: 'number/=', target: ['variable', ['template-tag', 'id']], value: 2 }]
    for (let i = 0; i < 4; i++) {
      const res = await s.request('POST', `/api/card/${card.json<{ id: number }>().id}/query`, { apiKey: s.apiKey, payload: { parameters } })
      expect(res.json().data.rows).toEqual([['21.00']])
    }
    const held = await s.request('POST', '/api/dataset', {
      apiKey: s.apiKey,
      payload: { database, type: 'native', native: { query: 'select statement, (generic_plans + custom_plans)::int as runs from pg_prepared_statements' } },
    })
    return held.json().data.rows
  }

  it('by default: the question is prepared on its third run and run by name from then on', async () => {
    expect(await preparedAfterFourRuns(undefined)).toEqual([['select total from orders where id = $1::int4', 2]])
  })

  it('pgStatementCache 0 (for PgBouncer in transaction mode) prepares nothing', async () => {
    expect(await preparedAfterFourRuns(0)).toEqual([])
  })
})

describe('the statement cache setting', () => {
  it('refuses a size that is not a whole number from 0, naming the setting', async () => {
    await expect(buildApp({ inMemory: true, logger: false, pgStatementCache: -1 })).rejects.toThrow(ConfigurationError)
    const before = process.env.SWITCHYARD_PG_STATEMENT_CACHE
    process.env.SWITCHYARD_PG_STATEMENT_CACHE = 'lots'
    try {
      await expect(buildApp({ inMemory: true, logger: false })).rejects.toThrow(/SWITCHYARD_PG_STATEMENT_CACHE.*"lots"/)
    } finally {
      if (before === undefined) delete process.env.SWITCHYARD_PG_STATEMENT_CACHE
      else process.env.SWITCHYARD_PG_STATEMENT_CACHE = before
    }
  })
})
