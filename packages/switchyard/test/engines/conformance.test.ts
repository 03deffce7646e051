import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EnginePool, EngineSpec, IsolationLevel, Queryable } from '../../src/engines/types.js'
import { ConfigurationError, QueryCancelledError, QueryError, UniqueViolationError, UnsupportedError } from '../../src/errors.js'
import { randomName } from '../../../../test-support/services.js'
import { engines } from './engines.js'

interface TransactionModesSeen {
  readonly level: string
  readonly readOnly: boolean
}

/**
 * The isolation level and access mode of the transaction `tx` is in, as the server reports
 * them; `undefined` where the engine has nothing to report (SQLite, always serializable).
 * `table` names an InnoDB table the transaction can read.
 */
async function modesOf(pool: EnginePool, tx: Queryable, table = 'items'): Promise<TransactionModesSeen | undefined> {
  if (pool.capabilities.dialect === 'postgres') {
    const { rows } = await tx.query<{ level: string; ro: string }>(`select current_setting('transaction_isolation') as level, current_setting('transaction_read_only') as ro`)
    return { level: rows[0]!.level, readOnly: rows[0]!.ro === 'on' }
  }
  if (pool.capabilities.dialect !== 'mysql') return undefined
  // MariaDB's @@tx_isolation is the session default, not the running transaction's. InnoDB lists a
  // transaction in innodb_trx once it has read an InnoDB table, through a cache refreshed at most
  // every 100 ms: a row whose trx_query is not this very statement is stale, so ask again.
  await tx.query(`select 1 from ${pool.quoteIdentifier(table)} limit 1`)
  const marker = randomName('sy_probe')
  for (let attempt = 0; attempt < 30; attempt++) {
    const { rows } = await tx.query<{ level: string; ro: number; q: string | null }>(
      `select /* ${marker} */ trx_isolation_level as level, trx_is_read_only as ro, trx_query as q from information_schema.innodb_trx where trx_mysql_thread_id = connection_id()`,
    )
    const row = rows[0]
    if (row?.q?.includes(marker)) return { level: row.level.toLowerCase(), readOnly: Number(row.ro) === 1 }
    await new Promise((r) => setTimeout(r, 110))
  }
  throw new Error('information_schema.innodb_trx never showed this transaction')
}

for (const engine of engines) {
  describe.skipIf(!engine.available)(`engine conformance: ${engine.name}`, () => {
    let pool: EnginePool
    let spec: EngineSpec
    let cleanup: () => Promise<void>
    /** The engine's placeholder for parameter n (1-based). */
    const p = (n: number) => (pool.capabilities.placeholders === 'numbered' ? `$${n}` : '?')

    beforeAll(async () => {
      const made = await engine.make()
      cleanup = made.cleanup
      spec = made.spec
      pool = made.spec.createPool()
      await pool.query('create table items (id integer primary key, name varchar(100) not null unique, note text)')
    })
    afterAll(async () => {
      await pool?.close()
      await cleanup?.()
    })

    it('runs parameterised statements and reports rowCount for each kind', async () => {
      const ins = await pool.query(`insert into items (id, name, note) values (${p(1)}, ${p(2)}, ${p(3)}), (${p(4)}, ${p(5)}, ${p(6)})`, [1, 'apple', null, 2, 'pear', 'ripe'])
      expect(ins.rowCount).toBe(2)
      const sel = await pool.query<{ id: number; name: string; note: string | null }>(`select id, name, note from items where name = ${p(1)}`, ['apple'])
      expect(sel.rows).toEqual([{ id: 1, name: 'apple', note: null }])
      expect(sel.rowCount).toBe(1)
      expect(sel.fields.map((f) => f.name)).toEqual(['id', 'name', 'note'])
      // Type names, not protocol codes: the server maps them to base types for every engine alike.
      expect(sel.fields[0]?.type).toMatch(/^(int4|int|integer)$/)
      expect(sel.fields[1]?.type).toMatch(/char/)
      const upd = await pool.query(`update items set note = ${p(1)} where id in (1, 2)`, ['x'])
      expect(upd.rowCount).toBe(2)
      const del = await pool.query(`delete from items where id = ${p(1)}`, [2])
      expect(del.rowCount).toBe(1)
      const none = await pool.query(`select * from items where id = ${p(1)}`, [999])
      expect(none).toMatchObject({ rows: [], rowCount: 0 })
    })

    it('a parameter is data, never SQL', async () => {
      const evil = `x'); drop table items; --`
      await pool.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [3, evil])
      const { rows } = await pool.query<{ name: string }>(`select name from items where id = ${p(1)}`, [3])
      expect(rows).toEqual([{ name: evil }])
    })

    it('commits a transaction when the function resolves and rolls it back when it throws', async () => {
      const out = await pool.transaction(async (tx) => {
        await tx.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [10, 'committed'])
        return 'done'
      })
      expect(out).toBe('done')
      await expect(
        pool.transaction(async (tx) => {
          await tx.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [11, 'rolled back'])
          throw new Error('nope')
        }),
      ).rejects.toThrow('nope')
      const { rows } = await pool.query<{ id: number }>('select id from items where id in (10, 11) order by id')
      expect(rows.map((r) => Number(r.id))).toEqual([10])
    })

    it('a nested transaction is a savepoint: its failure keeps the outer work', async () => {
      await pool.transaction(async (tx) => {
        await tx.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [20, 'outer'])
        await expect(
          tx.transaction(async (inner) => {
            await inner.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [21, 'inner'])
            throw new Error('inner fails')
          }),
        ).rejects.toThrow('inner fails')
        await tx.transaction((inner) => inner.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [22, 'inner kept']))
      })
      const { rows } = await pool.query<{ id: number }>('select id from items where id between 20 and 29 order by id')
      expect(rows.map((r) => Number(r.id))).toEqual([20, 22])
    })

    it('two nested transactions started side by side on one transaction: one rolls back, the other commits', async () => {
      const tick = () => new Promise((r) => setTimeout(r, 5))
      const ins = (tx: { query: EnginePool['query'] }, id: number) => tx.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [id, `side-${id}`])
      await pool.transaction(async (tx) => {
        const [failed, kept] = await Promise.allSettled([
          tx.transaction(async (a) => {
            await ins(a, 70)
            await tick()
            await ins(a, 71)
            throw new Error('a fails')
          }),
          tx.transaction(async (b) => {
            await ins(b, 72)
            await tick()
            // A savepoint opened from inside another nests in it, through the outer handle too.
            await tx.transaction(async (c) => ins(c, 73))
            await ins(b, 74)
          }),
        ])
        expect(failed).toMatchObject({ status: 'rejected', reason: { message: 'a fails' } })
        expect(kept.status).toBe('fulfilled')
        await ins(tx, 75)
      })
      const { rows } = await pool.query<{ id: number }>('select id from items where id between 70 and 79 order by id')
      expect(rows.map((r) => Number(r.id))).toEqual([72, 73, 74, 75])
    })

    it('a failing statement inside a transaction rolls back all of it', async () => {
      await expect(
        pool.transaction(async (tx) => {
          await tx.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [30, 'first'])
          await tx.query('insert into no_such_table values (1)')
        }),
      ).rejects.toBeInstanceOf(QueryError)
      const { rows } = await pool.query('select id from items where id = 30')
      expect(rows).toEqual([])
    })

    it("a transaction with isolationLevel 'serializable' runs at that level", async () => {
      const seen = await pool.transaction(
        async (tx) => {
          await tx.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [90, 'serializable'])
          return modesOf(pool, tx)
        },
        { isolationLevel: 'serializable' },
      )
      if (seen !== undefined) expect(seen).toEqual({ level: 'serializable', readOnly: false })
      expect((await pool.query('select id from items where id = 90')).rows).toHaveLength(1)
    })

    it("'repeatable read' (and 'read committed') together with readOnly: both apply, and a write inside is refused", async () => {
      // Each level is some server's default (MySQL's, PostgreSQL's): between them both are really set.
      for (const isolationLevel of ['repeatable read', 'read committed'] as const) {
        const options = { isolationLevel, readOnly: true }
        const seen = await pool.transaction((tx) => modesOf(pool, tx), options)
        // SQLite ignores readOnly; the others refuse the write and roll back.
        if (seen === undefined) return
        expect(seen).toEqual({ level: isolationLevel, readOnly: true })
        const write = pool.transaction((tx) => tx.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [91, 'read only']), options)
        await expect(write).rejects.toBeInstanceOf(QueryError)
        expect((await pool.query('select id from items where id = 91')).rows).toEqual([])
      }
    })

    it('an isolation level combines with a schema-scoped transaction', async () => {
      const name = randomName('sy_iso')
      await pool.createSchema(name)
      try {
        await pool.query(`create table ${pool.quoteIdentifier(name)}.items (id integer, tag varchar(20))`)
        await pool.query(`insert into ${pool.quoteIdentifier(name)}.items values (1, 'scoped')`)
        const out = await pool.transaction(
          async (tx) => ({ rows: (await tx.query<{ tag: string }>('select tag from items')).rows, seen: await modesOf(pool, tx) }),
          { schema: name, isolationLevel: 'serializable' },
        )
        expect(out.rows).toEqual([{ tag: 'scoped' }])
        if (out.seen !== undefined) expect(out.seen.level).toBe('serializable')
      } finally {
        await pool.dropSchema(name, { cascade: true })
      }
    })

    it('the isolation level and read-only mode do not stay on the pooled connection', async () => {
      const made = await engine.make({ max: 1 })
      const one = made.spec.createPool()
      try {
        await one.query('create table items (id integer primary key, name varchar(100))')
        const before = await one.transaction((tx) => modesOf(one, tx))
        await one.transaction((tx) => modesOf(one, tx), { isolationLevel: 'serializable', readOnly: true })
        const after = await one.transaction((tx) => modesOf(one, tx))
        expect(after).toEqual(before)
        if (before !== undefined) expect(before).not.toEqual({ level: 'serializable', readOnly: true })
        // The same connection still writes, outside a transaction and in one.
        await one.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [1, 'plain'])
        await one.transaction((tx) => tx.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [2, 'in tx']))
        expect((await one.query('select id from items')).rows).toHaveLength(2)
      } finally {
        await one.close()
        await made.cleanup()
      }
    })

    it('an unknown isolation level is a ConfigurationError, before any connection is taken', async () => {
      const fresh = spec.createPool()
      try {
        for (const level of ['snapshot', 'serializable; drop table items', 'SERIALIZABLE', '']) {
          let ran = false
          const err = await fresh
            .transaction(
              async () => {
                ran = true
              },
              { isolationLevel: level as IsolationLevel },
            )
            .catch((e: unknown) => e)
          expect(err).toBeInstanceOf(ConfigurationError)
          expect(err).toMatchObject({ code: 'CONFIGURATION' })
          expect((err as Error).message).toContain(`'${level}'`)
          expect(ran).toBe(false)
        }
        expect(fresh.stats().total).toBe(0)
      } finally {
        await fresh.close()
      }
      expect((await pool.query('select count(*) as n from items')).rows).toHaveLength(1)
    })

    it('reports a unique violation as UniqueViolationError', async () => {
      const err = await pool.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [40, 'apple']).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(UniqueViolationError)
      expect(err).toMatchObject({ code: 'UNIQUE_VIOLATION' })
    })

    it('introspects tables and columns with types and nullability', async () => {
      await pool.query('create table shapes (sid integer not null, label varchar(20), weight real)')
      const tables = await pool.introspect()
      const shapes = tables.find((t) => t.name === 'shapes')
      expect(shapes?.columns.map((c) => c.name)).toEqual(['sid', 'label', 'weight'])
      expect(shapes?.columns.map((c) => c.nullable)).toEqual([false, true, true])
      expect(shapes?.columns[0]?.type).toMatch(/int/)
      expect(shapes?.columns[1]?.type).toMatch(/char/)
      expect(tables.some((t) => t.name === 'items')).toBe(true)
    })

    it('creates, lists and drops schemas (MySQL: databases; SQLite: attached files)', async () => {
      const name = randomName('sy_schema')
      await pool.createSchema(name)
      try {
        expect(await pool.listSchemas()).toContain(name)
        await pool.query(`create table ${pool.quoteIdentifier(name)}.inside (v integer)`)
        expect((await pool.introspect({ schema: name })).map((t) => t.name)).toEqual(['inside'])
      } finally {
        await pool.dropSchema(name, { cascade: true })
      }
      expect(await pool.listSchemas()).not.toContain(name)
    })

    it('runs one statement in a given schema without changing the default afterwards', async () => {
      const name = randomName('sy_scoped')
      await pool.createSchema(name)
      try {
        await pool.query(`create table ${pool.quoteIdentifier(name)}.items (id integer, tag varchar(20))`)
        await pool.query(`insert into ${pool.quoteIdentifier(name)}.items values (1, 'scoped')`)
        if (pool.capabilities.schemaScoping === 'attached') {
          // SQLite resolves unqualified names main-first: it cannot scope a statement, and says so.
          await expect(pool.query('select tag from items', [], { schema: name })).rejects.toBeInstanceOf(UnsupportedError)
          return
        }
        const scoped = await pool.query<{ tag: string }>('select tag from items', [], { schema: name })
        expect(scoped.rows).toEqual([{ tag: 'scoped' }])
        const inTx = await pool.transaction((tx) => tx.query<{ tag: string }>('select tag from items'), { schema: name })
        expect(inTx.rows).toEqual([{ tag: 'scoped' }])
        // Every pooled connection is back on the default: the main table is what we see.
        const after = await Promise.all(Array.from({ length: 6 }, () => pool.query<{ n: number }>('select count(*) as n from items where id = 1')))
        for (const r of after) expect(Number(r.rows[0]?.n)).toBe(1)
        const probe = await Promise.all(Array.from({ length: 6 }, () => pool.query('select note from items where id = 1')))
        for (const r of probe) expect(r.rows).toHaveLength(1)
      } finally {
        await pool.dropSchema(name, { cascade: true })
      }
    })

    it('quotes identifiers so that embedded quotes round-trip through real DDL', async () => {
      const table = `we"ird\`name`
      const q = pool.quoteIdentifier(table)
      await pool.query(`create table ${q} (${pool.quoteIdentifier('col"x')} integer)`)
      await pool.query(`insert into ${q} values (7)`)
      const { rows } = await pool.query<Record<string, number>>(`select * from ${q}`)
      expect(rows).toEqual([{ 'col"x': 7 }])
      expect((await pool.introspect()).some((t) => t.name === table)).toBe(true)
    })

    it("rowMode 'array' keeps every column of duplicate names: rows in field order, every field listed", async () => {
      const res = await pool.query<unknown[]>('select 1 as a, 2 as a', [], { rowMode: 'array' })
      expect(res.rows).toEqual([[1, 2]])
      expect(res.rowCount).toBe(1)
      expect(res.fields.map((f) => f.name)).toEqual(['a', 'a'])
      // A statement that returns no rows still reports what it affected.
      const ins = await pool.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [80, 'array-insert'], { rowMode: 'array' })
      expect(ins).toMatchObject({ rows: [], rowCount: 1 })
      const none = await pool.query<unknown[]>(`select id, id from items where id = ${p(1)}`, [999], { rowMode: 'array' })
      expect(none).toMatchObject({ rows: [], rowCount: 0 })
      expect(none.fields.map((f) => f.name)).toEqual(['id', 'id'])
    })

    it("the default row mode is unchanged: objects keyed by name, also right after the same statement ran as 'array'", async () => {
      const sql = `select id, name from items where id = ${p(1)}`
      await pool.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [81, 'default-mode'])
      expect((await pool.query<unknown[]>(sql, [81], { rowMode: 'array' })).rows).toEqual([[81, 'default-mode']])
      // Nothing sticks to a pooled connection or a cached statement.
      for (const options of [undefined, {}, { rowMode: 'object' as const }]) {
        const res = await pool.query<{ id: number; name: string }>(sql, [81], options)
        expect(res.rows).toEqual([{ id: 81, name: 'default-mode' }])
        expect(res.rowCount).toBe(1)
      }
      const dup = await pool.query<Record<string, unknown>>('select 1 as a, 2 as a')
      expect(dup.rows).toHaveLength(1)
      expect(Array.isArray(dup.rows[0])).toBe(false)
      expect(Object.keys(dup.rows[0] ?? {})).toEqual(['a'])
    })

    it("rowMode 'array' inside a transaction and a savepoint", async () => {
      const out = await pool.transaction(async (tx) => {
        await tx.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [82, 'in-tx'], { rowMode: 'array' })
        const outer = await tx.query<unknown[]>(`select id, name, id, name from items where id = ${p(1)}`, [82], { rowMode: 'array' })
        const inner = await tx.transaction((sp) => sp.query<unknown[]>('select 1 as a, 2 as a', [], { rowMode: 'array' }))
        const plain = await tx.query<{ a: number }>('select 1 as a, 2 as a')
        return { outer, inner, plain }
      })
      expect(out.outer.rows).toEqual([[82, 'in-tx', 82, 'in-tx']])
      expect(out.outer.fields.map((f) => f.name)).toEqual(['id', 'name', 'id', 'name'])
      expect(out.inner.rows).toEqual([[1, 2]])
      expect(out.inner.fields.map((f) => f.name)).toEqual(['a', 'a'])
      expect(Array.isArray(out.plain.rows[0])).toBe(false)
    })

    it("rowMode 'array' with parameters: a join where both sides have id and name keeps both", async () => {
      await pool.query(`insert into items (id, name) values (${p(1)}, ${p(2)}), (${p(3)}, ${p(4)})`, [83, 'left', 84, 'right'])
      const res = await pool.query<[number, string, number, string]>(
        `select l.id, l.name, r.id, r.name from items l join items r on r.id = l.id + 1 where l.id = ${p(1)}`,
        [83],
        { rowMode: 'array' },
      )
      expect(res.rows).toEqual([[83, 'left', 84, 'right']])
      expect(res.rowCount).toBe(1)
      expect(res.fields.map((f) => f.name)).toEqual(['id', 'name', 'id', 'name'])
    })

    it("rowMode 'array' combines with a signal, a schema-scoped transaction, and a per-statement schema or search path", async () => {
      const signal = new AbortController().signal
      const signalled = await pool.query<unknown[]>('select 1 as a, 2 as a', [], { rowMode: 'array', signal })
      expect(signalled.rows).toEqual([[1, 2]])
      expect(signalled.fields.map((f) => f.name)).toEqual(['a', 'a'])
      const inTx = await pool.transaction((tx) => tx.query<unknown[]>('select 1 as a, 2 as a', [], { rowMode: 'array', signal }))
      expect(inTx.rows).toEqual([[1, 2]])
      const name = randomName('sy_rowmode')
      await pool.createSchema(name)
      try {
        await pool.query(`create table ${pool.quoteIdentifier(name)}.items (id integer, tag varchar(20))`)
        await pool.query(`insert into ${pool.quoteIdentifier(name)}.items values (1, 'scoped')`)
        const sql = `select id, tag, tag from items where id = ${p(1)}`
        const scopedTx = await pool.transaction((tx) => tx.query<unknown[]>(sql, [1], { rowMode: 'array' }), { schema: name })
        expect(scopedTx.rows).toEqual([[1, 'scoped', 'scoped']])
        expect(scopedTx.fields.map((f) => f.name)).toEqual(['id', 'tag', 'tag'])
        if (pool.capabilities.schemaScoping === 'attached') return // SQLite cannot scope one statement (see above)
        const scoped = await pool.query<unknown[]>(sql, [1], { schema: name, rowMode: 'array', signal })
        expect(scoped.rows).toEqual([[1, 'scoped', 'scoped']])
        expect(scoped.fields.map((f) => f.name)).toEqual(['id', 'tag', 'tag'])
        if (pool.capabilities.schemaScoping === 'search-path') {
          const pathed = await pool.query<unknown[]>(sql, [1], { searchPath: [name, 'public'], rowMode: 'array' })
          expect(pathed.rows).toEqual([[1, 'scoped', 'scoped']])
        }
        // And the default shape with the same options is still objects.
        expect((await pool.query(sql, [1], { schema: name })).rows).toEqual([{ id: 1, tag: 'scoped' }])
      } finally {
        await pool.dropSchema(name, { cascade: true })
      }
    })

    it(`an abort signal ${engine.slowStatement ? 'cancels a long statement on the server' : 'is honoured before the statement starts'} and the pool keeps working`, async () => {
      expect(pool.capabilities.cancellation ?? false).toBe(engine.slowStatement !== undefined)
      if (pool.capabilities.cancellation && engine.slowStatement) {
        const controller = new AbortController()
        const started = Date.now()
        setTimeout(() => controller.abort(), 200)
        const outcome = await pool.query(engine.slowStatement(5), [], { signal: controller.signal }).then(
          () => 'completed',
          (e: unknown) => e,
        )
        expect(Date.now() - started).toBeLessThan(3000)
        if (outcome !== 'completed') expect(outcome).toBeInstanceOf(QueryCancelledError)
      } else {
        // No way to interrupt a running statement here: an aborted signal must stop it from starting.
        const controller = new AbortController()
        controller.abort(new Error('user went away'))
        const err = await pool.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [51, 'never'], { signal: controller.signal }).catch((e: unknown) => e)
        expect(err).toBeInstanceOf(QueryCancelledError)
        expect(err).toMatchObject({ code: 'QUERY_CANCELLED', cause: { message: 'user went away' } })
        const inTx = await pool
          .transaction((tx) => tx.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [52, 'never'], { signal: controller.signal }))
          .catch((e: unknown) => e)
        expect(inTx).toBeInstanceOf(QueryCancelledError)
        const { rows } = await pool.query('select id from items where id in (51, 52)')
        expect(rows).toEqual([])
      }
      const { rows } = await pool.query<{ one: number }>('select 1 as one')
      expect(Number(rows[0]?.one)).toBe(1)
    })

    it('an already-aborted signal runs nothing and says so with QUERY_CANCELLED', async () => {
      const controller = new AbortController()
      controller.abort()
      const err = await pool.query(`insert into items (id, name) values (${p(1)}, ${p(2)})`, [50, 'never'], { signal: controller.signal }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(QueryCancelledError)
      expect(err).toMatchObject({ code: 'QUERY_CANCELLED' })
      const { rows } = await pool.query('select id from items where id = 50')
      expect(rows).toEqual([])
    })

    it('a string of several statements answers with the last result or is refused whole, never half-run', async () => {
      const outcome = await pool.query<{ v: number }>('insert into items (id, name) values (60, \'multi\'); select 2 as v').then(
        (r) => r.rows.map((x) => Number(x.v)),
        (e: unknown) => e,
      )
      const ran = await pool.query('select id from items where id = 60')
      if (Array.isArray(outcome)) {
        expect(outcome).toEqual([2])
        expect(ran.rows).toHaveLength(1)
      } else {
        expect(outcome).toBeInstanceOf(QueryError)
        expect(ran.rows).toEqual([])
      }
    })

    it('checks its connection', async () => {
      await expect(pool.checkConnection()).resolves.toBeUndefined()
    })

    it('close() waits for the statement in flight, then refuses new ones with a clear error', async () => {
      const made = await engine.make()
      const own = made.spec.createPool()
      try {
        await own.query('create table t (v integer)')
        const inFlight = own.query(engine.slowStatement ? engine.slowStatement(0.3) : 'select 1')
        await new Promise((r) => setTimeout(r, 20))
        const closing = own.close()
        await expect(inFlight).resolves.toBeDefined()
        await closing
        await expect(own.query('select 1')).rejects.toThrow(/closed|end/i)
      } finally {
        await own.close()
        await made.cleanup()
      }
    })
  })
}
