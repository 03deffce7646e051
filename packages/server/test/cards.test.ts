import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from './support/server.js'

// Embedded PGlite databases: this suite needs no database server.
describe('questions: save, read, update, delete, run ad hoc', () => {
  let s: TestServer
  let dbId: number
  beforeAll(async () => {
    s = await startServer()
    const db = await s.request('POST', '/api/database', { apiKey: s.apiKey, payload: { engine: 'pglite', name: 'Embedded', details: { 'data-dir': 'cards-db' } } })
    expect(db.statusCode).toBe(200)
    dbId = db.json<{ id: number }>().id
    for (const query of ['create table notes (id int, body text)', `insert into notes values (1, 'one'), (2, 'two')`]) {
      const setup = await s.request('POST', '/api/dataset', { apiKey: s.apiKey, payload: { database: dbId, type: 'native', native: { query } } })
      expect(setup.json().status).toBe('completed')
    }
  })
  afterAll(async () => {
    await s?.close()
  })

  it('saves a question, updates it and deletes it', async () => {
    const created = await s.request('POST', '/api/card', {
      apiKey: s.apiKey,
      payload: { name: 'Notes', dataset_query: { database: dbId, type: 'native', native: { query: 'select body from notes where id = {{id}}', 'template-tags': { id: { type: 'number', default: 1 } } } } },
    })
    expect(created.statusCode).toBe(200)
    const id = created.json<{ id: number }>().id
    expect((await s.request('GET', `/api/card/${id}`, { apiKey: s.apiKey })).json().name).toBe('Notes')
    const first = await s.request('POST', `/api/card/${id}/query`, { apiKey: s.apiKey, payload: {} })
    expect(first.json().data.rows).toEqual([['one']])
    const renamed = await s.request('PUT', `/api/card/${id}`, { apiKey: s.apiKey, payload: { name: 'Renamed', dataset_query: { database: dbId, type: 'native', native: { query: 'select body from notes order by id desc limit 1' } } } })
    expect(renamed.json().name).toBe('Renamed')
    // The update is visible at once: the hot-path metadata cache is cleared by writes.
    expect((await s.request('POST', `/api/card/${id}/query`, { apiKey: s.apiKey, payload: {} })).json().data.rows).toEqual([['two']])
    expect((await s.request('DELETE', `/api/card/${id}`, { apiKey: s.apiKey })).statusCode).toBe(204)
    expect((await s.request('GET', `/api/card/${id}`, { apiKey: s.apiKey })).statusCode).toBe(404)
  })

  it('refuses questions that are not native or name no database, by field', async () => {
    const res = await s.request('POST', '/api/card', { apiKey: s.apiKey, payload: { name: 'x', dataset_query: { database: dbId, type: 'query', native: { query: 'select 1' } } } })
    expect(res.statusCode).toBe(400)
    expect(res.json().message).toMatch(/type/)
    const missing = await s.request('POST', '/api/card', { apiKey: s.apiKey, payload: { name: 'x', dataset_query: { database: 9999, type: 'native', native: { query: 'select 1' } } } })
    expect(missing.statusCode).toBe(400)
    expect(missing.json().message).toMatch(/9999/)
  })

  it('reports a failing query as a failed run, not a server error', async () => {
    const res = await s.request('POST', '/api/dataset', { apiKey: s.apiKey, payload: { database: dbId, type: 'native', native: { query: 'select * from no_such_table' } } })
    expect(res.statusCode).toBe(202)
    expect(res.json()).toMatchObject({ status: 'failed' })
    expect(res.json().error).toMatch(/no_such_table/)
  })

  it('keeps every column of a result whose columns share a name, in order', async () => {
    const res = await s.request('POST', '/api/dataset', {
      apiKey: s.apiKey,
      payload: { database: dbId, type: 'native', native: { query: 'select a.id, a.body, b.id, b.body from notes a join notes b on b.id = a.id + 1' } },
    })
    expect(res.json()).toMatchObject({ status: 'completed', row_count: 1 })
    expect(res.json().data.cols.map((c: { name: string }) => c.name)).toEqual(['id', 'body', 'id', 'body'])
    expect(res.json().data.rows).toEqual([[1, 'one', 2, 'two']])
  })

  it('records a run with the time it started, not the time its batch was written', async () => {
    const res = await s.request('POST', '/api/dataset', { apiKey: s.apiKey, payload: { database: dbId, type: 'native', native: { query: `select 'started-at probe'` } } })
    const startedAt = res.json<{ started_at: string }>().started_at
    // Records are written in batches a little later; wait past the batch interval.
    await new Promise((r) => setTimeout(r, 250))
    await s.app.switchyard.executions.flush()
    const { rows } = await s.app.switchyard.store.query<{ started_at: Date }>(
      `select started_at from query_executions where context = 'ad-hoc' order by id desc limit 1`,
    )
    expect(rows[0]!.started_at.toISOString()).toBe(startedAt)
  })

  it('records every column of a run as it happened: who, which question, where, rows, cache hit', async () => {
    const created = await s.request('POST', '/api/card', {
      apiKey: s.apiKey,
      payload: { name: 'Cached notes', cache_ttl: 60, dataset_query: { database: dbId, type: 'native', native: { query: `select body, 'record probe' from notes order by id` } } },
    })
    const cardId = created.json<{ id: number }>().id
    for (let i = 0; i < 2; i++) expect((await s.request('POST', `/api/card/${cardId}/query`, { apiKey: s.apiKey, payload: {} })).json().status).toBe('completed')
    await s.app.switchyard.executions.flush()
    const { rows } = await s.app.switchyard.store.query<Record<string, unknown>>(
      `select user_id, api_key_id, card_id, router_database_id, database_id, running_time, row_count, cache_hit, error, context
         from query_executions where card_id = $1 order by id`,
      [cardId],
    )
    const keyId = (await s.app.switchyard.store.query<{ id: number }>('select id from api_keys order by id limit 1')).rows[0]!.id
    const run = { user_id: null, api_key_id: keyId, card_id: cardId, router_database_id: dbId, database_id: dbId, row_count: 2, error: null, context: 'question' }
    expect(rows).toMatchObject([{ ...run, cache_hit: false }, { ...run, cache_hit: true }])
    for (const r of rows) expect(r.running_time).toBeGreaterThanOrEqual(0)
  })

  it('records runs whose error quotes a NUL or half an emoji, next to the other runs of the batch', async () => {
    const created = await s.request('POST', '/api/card', {
      apiKey: s.apiKey,
      payload: { name: 'By id', dataset_query: { database: dbId, type: 'native', native: { query: 'select body from notes where id = {{id}}', 'template-tags': { id: { type: 'number' } } } } },
    })
    const id = created.json<{ id: number }>().id
    const run = (tag: string, value: unknown) =>
      s.request('POST', `/api/card/${id}/query`, { apiKey: s.apiKey, payload: { parameters: [{ type: 'number/=', target: ['variable', ['template-tag', tag]], value }] } })
    expect((await run('id\u0000', 1)).statusCode).toBe(400)
    // The message quotes the value cut at 77 characters: in the middle of an emoji.
    expect((await run('id', `a${'\u{1F600}'.repeat(40)}`)).statusCode).toBe(400)
    expect((await run('id', 2)).json().data.rows).toEqual([['two']])
    await s.app.switchyard.executions.flush()
    const { rows } = await s.app.switchyard.store.query<{ error: string | null; row_count: number | null }>('select error, row_count from query_executions where card_id = $1 order by id', [id])
    expect(rows).toHaveLength(3)
    expect(rows[0]!.error).toContain('id\uFFFD')
    expect(rows[1]!.error).toMatch(/\uFFFD/)
    expect(rows[2]).toEqual({ error: null, row_count: 1 })
  })

  it('a record the store refuses is dropped alone: the rest of its batch is written', async () => {
    const log = s.app.switchyard.executions
    await log.flush()
    const record = (error: string, runningTime: number) =>
      log.record({ startedAt: new Date().toISOString(), userId: null, apiKeyId: null, cardId: null, routerDatabaseId: dbId, databaseId: dbId, runningTime, rowCount: 0, cacheHit: false, error, context: 'ad-hoc' })
    record('batch probe 1', 1)
    record('batch probe 2', 2 ** 40) // out of range for the int column: SQLSTATE 22003
    record('batch probe 3', 3)
    await log.flush()
    const { rows } = await s.app.switchyard.store.query<{ error: string }>(`select error from query_executions where error like 'batch probe %' order by id`)
    expect(rows.map((r) => r.error)).toEqual(['batch probe 1', 'batch probe 3'])
  })

  it('refuses an embedded data directory outside the server data directory', async () => {
    const res = await s.request('POST', '/api/database', { apiKey: s.apiKey, payload: { engine: 'pglite', name: 'evil', details: { 'data-dir': '../../etc' } } })
    expect(res.statusCode).toBe(400)
    expect(res.json().message).toMatch(/inside the server data directory/)
  })
})
