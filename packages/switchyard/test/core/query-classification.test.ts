import { afterAll, describe, expect, it } from 'vitest'
import { createSwitchyard } from '../../src/index.js'
import { pglite } from '../../src/engines/pglite/index.js'
import { sqlite } from '../../src/engines/sqlite/index.js'

// Embedded engines only: this suite runs without any database server.
describe('query() classification per engine', () => {
  const sy = createSwitchyard({
    databases: { default: pglite(), replica: pglite(), lite: sqlite({ filename: ':memory:' }), lite_replica: sqlite({ filename: ':memory:' }) },
    routers: [
      {
        dbForRead: (m) => (m.table === 'notes' ? 'lite_replica' : 'replica'),
        dbForWrite: (m) => (m.table === 'notes' ? 'lite' : 'default'),
      },
    ],
  })
  afterAll(() => sy.close())

  it('parses PostgreSQL-dialect statements, cached or not', async () => {
    expect((await sy.query('select 1 as x')).alias).toBe('replica')
    expect((await sy.query('select 1 as x')).alias).toBe('replica')
    expect((await sy.query('create temp table t (x int)')).alias).toBe('default')
  })

  it('treats statements on other engines as writes unless told they read, even a text parsed before', async () => {
    expect((await sy.query('select 1 as x', [], { model: 'notes' })).alias).toBe('lite')
    expect((await sy.query('select 1 as x', [], { model: 'notes', kind: 'read' })).alias).toBe('lite_replica')
  })
})
