import { describe, expect, it } from 'vitest'
import { StatementClassifier } from '../src/sql/classify.js'

const c = new StatementClassifier()

describe('statement classification (real PostgreSQL parser)', () => {
  it.each([
    ['select * from orders where id = $1', 'read'],
    ['with x as (select 1) select * from x', 'read'],
    ['values (1), (2)', 'read'],
    ['explain select 1', 'read'],
    ['select count(*) from a join b on a.id = b.a_id', 'read'],
    ['select * from orders for update', 'write'],
    ['select * from orders for share', 'write'],
    ['select * from (select * from t for update) s', 'write'],
    ['with d as (delete from t returning *) select * from d', 'write'],
    ['with u as (update t set x = 1 returning *) select * from u', 'write'],
    ["select nextval('seq')", 'write'],
    ["select setval('seq', 10)", 'write'],
    ['select pg_catalog.nextval($1)', 'write'],
    ['select lo_from_bytea(0, $1)', 'write'],
    ["select brin_summarize_new_values('orders_brin')", 'write'],
    ['select pg_try_advisory_xact_lock(1)', 'write'],
    ['select lo_get($1)', 'read'],
    ['select * into newtable from t', 'write'],
    ['explain analyze delete from t', 'write'],
    ['insert into t values (1)', 'write'],
    ['update t set a = 1', 'write'],
    ['delete from t', 'write'],
    ['create table t (id int)', 'write'],
    ['select 1; delete from t', 'write'],
    ['begin', 'write'],
  ] as const)('%s -> %s', async (sql, kind) => {
    expect(await c.classify(sql)).toBe(kind)
  })

  it('serves a repeated statement from the cache without parsing', async () => {
    const sql = 'select id from cache_probe where id = $1'
    expect(c.cached(sql)).toBeUndefined()
    await c.classify(sql)
    expect(c.cached(sql)).toBe('read')
  })

  it('rejects text PostgreSQL cannot parse', async () => {
    await expect(c.classify('selec * frm')).rejects.toMatchObject({ code: 'SQL_PARSE' })
  })
})
