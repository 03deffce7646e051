import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigurationError, UniqueViolationError, UnknownTenantError, type EnginePool } from '../../src/index.js'
import { mysql } from '../../src/engines/mysql/index.js'
import { pglite } from '../../src/engines/pglite/index.js'
import { postgres } from '../../src/engines/postgres/index.js'
import { sqlite } from '../../src/engines/sqlite/index.js'
import { TenantManager, TenantSchemaConflictError, TenantSchemaExistsError, tableSchemaMapping, type TenantManagerOptions, type TenantMigration } from '../../src/tenancy/index.js'
import { createTempMysqlDatabase, createTempPgDatabase, dropMysqlDatabasesLike, randomName, serviceAvailable } from '../../../../test-support/services.js'

// `tenant_Acme` and `tenant_acme` are one database on MySQL with lower_case_table_names=1/2 and
// one file on a case-insensitive file system: the registry refuses the second tenant on every
// engine, before anything is created for it.

const pgOk = await serviceAvailable('postgres')
const mysqlOk = await serviceAvailable('mysql')

/** One engine under test: a pool, where its tables go, and what tenant containers exist (read from the catalog or the directory, not the pool). */
interface Harness {
  readonly pool: EnginePool
  /** Lookup table name, and the old-version registry/status table names (`schema.table` where the engine has schemas). */
  readonly lookupTable: string
  readonly legacy: (n: number) => { registryTable: string; statusTable: string }
  /** Runs before the legacy tables are created (PostgreSQL: their schema). */
  readonly prepareLegacy: () => Promise<void>
  readonly containers: () => Promise<string[]>
  readonly close: () => Promise<void>
}

/** PostgreSQL (a temporary database) or PGlite (in memory): schemas are the containers. */
async function postgresHarness(prefix: string, server: boolean): Promise<Harness> {
  const db = server ? await createTempPgDatabase('sy_conflict') : undefined
  const pool = db ? postgres({ connectionString: db.connectionString, max: 6 }).createPool() : pglite({}).createPool()
  return {
    pool,
    lookupTable: 'directory.tenant_schemas',
    legacy: (n) => ({ registryTable: `legacy${n}.tenants`, statusTable: `legacy${n}.tenant_migrations` }),
    prepareLegacy: async () => {
      for (const n of [1, 2]) await pool.query(`create schema if not exists legacy${n}`)
    },
    containers: async () => namesWith(prefix, (await pool.query<{ n: string }>('select nspname as n from pg_namespace')).rows),
    close: async () => {
      await pool.close()
      await db?.drop()
    },
  }
}

const engines: { name: string; ok: boolean; open: (prefix: string) => Promise<Harness> }[] = [
  { name: 'PostgreSQL', ok: pgOk, open: (prefix) => postgresHarness(prefix, true) },
  { name: 'PGlite', ok: true, open: (prefix) => postgresHarness(prefix, false) },
  {
    name: 'MariaDB',
    ok: mysqlOk,
    async open(prefix) {
      const home = await createTempMysqlDatabase('sy_conflict')
      const pool = mysql({ connectionString: home.connectionString, max: 6 }).createPool()
      return {
        pool,
        lookupTable: 'tenant_schemas',
        legacy: (n) => ({ registryTable: `legacy${n}_tenants`, statusTable: `legacy${n}_tenant_migrations` }),
        prepareLegacy: async () => {},
        containers: async () => namesWith(prefix, (await pool.query<{ n: string }>('select schema_name as n from information_schema.schemata')).rows),
        close: async () => {
          await pool.close()
          await dropMysqlDatabasesLike(prefix)
          await home.drop()
        },
      }
    },
  },
  {
    name: 'SQLite',
    ok: true,
    async open(prefix) {
      const dir = await mkdtemp(join(tmpdir(), 'sy-conflict-'))
      const pool = sqlite({ filename: join(dir, 'main.sqlite') }).createPool()
      return {
        pool,
        lookupTable: 'tenant_schemas',
        legacy: (n) => ({ registryTable: `legacy${n}_tenants`, statusTable: `legacy${n}_tenant_migrations` }),
        prepareLegacy: async () => {},
        // A tenant is the file main.sqlite.<schema>.sqlite: what the directory holds is what was created.
        containers: async () =>
          namesWith(
            prefix,
            (await readdir(dir)).flatMap((f) => /^main\.sqlite\.(.+)\.sqlite$/.exec(f)?.slice(1, 2) ?? []).map((n) => ({ n })),
          ),
        close: async () => {
          await pool.close()
          await rm(dir, { recursive: true, force: true })
        },
      }
    },
  },
]

function namesWith(prefix: string, rows: readonly { n: string }[]): string[] {
  return rows.map((r) => r.n).filter((n) => n.startsWith(`${prefix}_`)).sort()
}

const orders: TenantMigration = {
  name: '001_orders',
  async up(db) {
    await db.query('create table orders (id int primary key, tenant varchar(64) not null)')
    await db.query(`insert into orders (id, tenant) values (1, ${db.capabilities.placeholders === 'numbered' ? '$1' : '?'})`, [db.tenant])
  },
}

for (const engine of engines) {
  describe.skipIf(!engine.ok)(`tenants never share a schema, whatever its letter case (${engine.name})`, () => {
    const prefix = randomName('sy_cf')
    const convention = `${prefix}_{key}`
    let h: Harness
    let pool: EnginePool
    const p = (n: number) => (pool.capabilities.placeholders === 'numbered' ? `$${n}` : '?')
    const manager = (options: Partial<TenantManagerOptions> = {}) => new TenantManager({ pool, mapping: convention, migrations: [orders], ...options })
    const registered = async (m: TenantManager) => (await m.list()).map((t) => [t.key, t.schema])
    const ordersOf = async (schema: string) => (await pool.query<{ tenant: string }>(`select tenant from ${pool.quoteIdentifier(schema)}.orders`)).rows.map((r) => r.tenant)
    const conflict = async (promise: Promise<unknown>): Promise<TenantSchemaConflictError> => {
      const err = await promise.then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(TenantSchemaConflictError)
      return err as TenantSchemaConflictError
    }

    beforeAll(async () => {
      h = await engine.open(prefix)
      pool = h.pool
    })
    afterAll(async () => {
      await h?.close()
    })

    it("refuses 'Acme' after 'acme' (tenant_{key}) before creating anything, and leaves 'acme' whole", async () => {
      const m = manager()
      expect(await m.provision('acme')).toEqual({ key: 'acme', schema: `${prefix}_acme`, created: true, migrated: ['001_orders'] })
      const before = await h.containers()
      expect(before).toEqual([`${prefix}_acme`])

      const err = await conflict(m.provision('Acme'))
      expect(err).toMatchObject({ code: 'TENANT_SCHEMA_CONFLICT', tenant: 'Acme', schema: `${prefix}_Acme`, existingTenant: 'acme', existingSchema: `${prefix}_acme` })
      expect(err.message).toBe(
        `Schema '${prefix}_Acme' of tenant 'Acme' is already used by tenant 'acme' (as '${prefix}_acme'); ` +
          'schema names are compared ignoring case because MySQL and case-insensitive file systems fold them',
      )
      expect(await h.containers()).toEqual(before)
      expect(await registered(m)).toEqual([['acme', `${prefix}_acme`]])
      expect(await ordersOf(`${prefix}_acme`)).toEqual(['acme'])

      // Re-provisioning the first tenant stays harmless.
      expect(await m.provision('acme')).toEqual({ key: 'acme', schema: `${prefix}_acme`, created: false, migrated: [] })
      // 'Acme' is no tenant: dropping it must not find 'acme' (MySQL's collation ignores case).
      await expect(m.drop('Acme', { confirm: 'Acme' })).rejects.toBeInstanceOf(UnknownTenantError)
      expect(await h.containers()).toEqual(before)
      expect(await ordersOf(`${prefix}_acme`)).toEqual(['acme'])
    })

    it('refuses a second key that a Map maps to the same schema, in the same or another case', async () => {
      const shared = `${prefix}_shared`
      const m = manager({ mapping: new Map([['m1', shared], ['m2', `${prefix}_SHARED`], ['m3', shared]]) })
      await m.provision('m1')
      const before = await h.containers()
      for (const [key, schema] of [['m2', `${prefix}_SHARED`], ['m3', shared]] as const) {
        expect(await conflict(m.provision(key))).toMatchObject({ tenant: key, schema, existingTenant: 'm1', existingSchema: shared })
      }
      expect(await h.containers()).toEqual(before)
      expect((await registered(m)).filter(([k]) => k!.startsWith('m'))).toEqual([['m1', shared]])
      expect(await ordersOf(shared)).toEqual(['m1'])
    })

    it('a lookup table refuses a schema another key has in any case, and so does provision for one a registered tenant has', async () => {
      const mapping = tableSchemaMapping({ table: h.lookupTable })
      const m = manager({ mapping })
      const legacy = `${prefix}_legacy`
      await m.provision('l1', { schema: legacy })
      await manager().provision('solo') // registered under the convention, not in the lookup table
      const before = await h.containers()

      expect(await conflict(m.provision('l2', { schema: `${prefix}_LEGACY` }))).toMatchObject({ tenant: 'l2', existingTenant: 'l1', existingSchema: legacy })
      expect(await conflict(m.provision('l3', { schema: legacy }))).toMatchObject({ tenant: 'l3', existingTenant: 'l1' })
      expect(await conflict(mapping.assign('l4', `${prefix}_Legacy`))).toMatchObject({ tenant: 'l4', schema: `${prefix}_Legacy`, existingTenant: 'l1' })
      // The table must not point 'l5' at solo's schema: the registry is asked before the table gets a row.
      expect(await conflict(m.provision('l5', { schema: `${prefix}_SOLO` }))).toMatchObject({ tenant: 'l5', existingTenant: 'solo', existingSchema: `${prefix}_solo` })

      expect(await h.containers()).toEqual(before)
      const rows = async () => (await pool.query<{ tenant_key: string; schema_name: string }>(`select tenant_key, schema_name from ${h.lookupTable}`)).rows
      expect(await rows()).toEqual([{ tenant_key: 'l1', schema_name: legacy }])
      expect(m.mapping.schemaFor('l1')).toBe(legacy)
      expect(() => m.mapping.schemaFor('l2')).toThrow(UnknownTenantError)
      expect(await m.provision('l1', { schema: legacy })).toEqual({ key: 'l1', schema: legacy, created: false, migrated: [] })

      // Two assigns of one schema in two spellings at once: never both (the later insert sees the earlier row).
      for (let round = 0; round < 5; round++) {
        const [a, b] = [`${prefix}_twin${round}`, `${prefix}_TWIN${round}`]
        const results = await Promise.allSettled([mapping.assign(`ca${round}`, a), mapping.assign(`cb${round}`, b)])
        const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [[`ca${round}`, `cb${round}`][i]!] : []))
        expect(won.length).toBeLessThanOrEqual(1)
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(TenantSchemaConflictError)
        const kept = (await rows()).filter((r) => r.schema_name.toLowerCase() === a.toLowerCase()).map((r) => r.tenant_key)
        expect(kept).toEqual(won)
      }
    })

    it("concurrent provisions of 'xK' and 'XK': exactly one wins, the other creates nothing", async () => {
      for (let round = 0; round < 5; round++) {
        const keys = [`race${round}`, `RACE${round}`]
        const before = await h.containers()
        // Two managers, as two processes would be.
        const results = await Promise.allSettled(keys.map((k) => manager().provision(k)))
        const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
        expect(won).toHaveLength(1)
        const lost = results.find((r) => r.status === 'rejected')
        expect(lost?.status === 'rejected' && lost.reason).toBeInstanceOf(TenantSchemaConflictError)
        const winner = won[0]!
        expect(winner).toMatchObject({ created: true, migrated: ['001_orders'] })
        expect(await h.containers()).toEqual([...before, winner.schema].sort())
        expect((await registered(manager())).filter(([k]) => keys.includes(k!))).toEqual([[winner.key, winner.schema]])
        expect(await ordersOf(winner.schema)).toEqual([winner.key])
      }
    })

    it('concurrent provisions of one key stay harmless, and so does provisioning it again', async () => {
      const results = await Promise.all([manager({ migrations: [] }).provision('twice'), manager({ migrations: [] }).provision('twice')])
      expect(results.map((r) => r.created).sort()).toEqual([false, true])
      expect(await manager().provision('twice')).toMatchObject({ created: false, migrated: ['001_orders'] })
      expect(await manager().provision('twice')).toEqual({ key: 'twice', schema: `${prefix}_twice`, created: false, migrated: [] })
      expect((await registered(manager())).filter(([k]) => k === 'twice')).toEqual([['twice', `${prefix}_twice`]])
    })

    it('a provision that finds the schema a concurrent provision of the same key just created resumes it, not refuses it as somebody else\'s', async () => {
      // The interleaving CI once hit: B reads the registry (empty), A registers and creates the
      // schema, then B asks whether the schema exists. B's existence check waits for A's provision.
      let first: Promise<unknown> | undefined
      const existence = new Proxy(pool, {
        get(target, prop) {
          const value: unknown = Reflect.get(target, prop, target)
          if (prop !== 'query' && prop !== 'listSchemas') return typeof value === 'function' ? value.bind(target) : value
          return async (...args: unknown[]) => {
            const text = String(args[0] ?? '')
            if (prop === 'listSchemas' || text.includes('schemata') || text.includes('pg_database')) {
              first ??= manager({ migrations: [] }).provision('raced')
              await first
            }
            return (value as (...a: unknown[]) => unknown).apply(target, args)
          }
        },
      })
      const late = await manager({ pool: existence, migrations: [] }).provision('raced')
      expect(await first).toMatchObject({ created: true })
      expect(late).toMatchObject({ key: 'raced', created: false })
      expect((await registered(manager())).filter(([k]) => k === 'raced')).toEqual([['raced', `${prefix}_raced`]])
    })

    it('a provision whose schema cannot be created leaves no registration behind', async () => {
      const failing = new Proxy(pool, {
        get(target, prop) {
          if (prop === 'createSchema') return async () => Promise.reject(new Error('disk full'))
          const value: unknown = Reflect.get(target, prop, target)
          return typeof value === 'function' ? value.bind(target) : value
        },
      })
      await expect(manager({ pool: failing }).provision('broken')).rejects.toThrow('disk full')
      expect((await registered(manager())).filter(([k]) => k === 'broken')).toEqual([])
      expect(await manager().provision('broken')).toMatchObject({ created: true, migrated: ['001_orders'] })
    })

    it('upgrades a registry made by an older version: the folded column with its unique constraint, filled in; conflicts already there are refused with what to fix', async () => {
      await h.prepareLegacy()
      const ts = pool.capabilities.dialect === 'postgres' ? 'timestamptz' : 'timestamp'
      const oldRegistry = (table: string) => `create table ${table} (tenant_key varchar(255) not null primary key, schema_name varchar(255) not null, created_at ${ts} not null default current_timestamp)`
      const oldInsert = (table: string, key: string, schema: string) => pool.query(`insert into ${table} (tenant_key, schema_name) values (${p(1)}, ${p(2)})`, [key, schema])
      const folded = async (table: string) =>
        (await pool.query<{ tenant_key: string; schema_folded: string | null }>(`select tenant_key, schema_folded from ${table} order by tenant_key`)).rows.map((r) => [r.tenant_key, r.schema_folded])

      const one = h.legacy(1)
      await pool.query(oldRegistry(one.registryTable))
      await oldInsert(one.registryTable, 'old1', `${prefix}_Old1`)
      // Two managers starting at once both upgrade it.
      const [a, b] = [manager(one), manager(one)]
      const lists = await Promise.all([a.list(), b.list()])
      expect(lists.map((l) => l.map((t) => t.key))).toEqual([['old1'], ['old1']])
      expect(await folded(one.registryTable)).toEqual([['old1', `${prefix}_old1`]])
      // The constraint is the database's, not only a check in code.
      await expect(
        pool.query(`insert into ${one.registryTable} (tenant_key, schema_name, schema_folded) values (${p(1)}, ${p(2)}, ${p(3)})`, ['raw', `${prefix}_OLD1`, `${prefix}_old1`]),
      ).rejects.toBeInstanceOf(UniqueViolationError)
      const before = await h.containers()
      expect(await conflict(a.provision('oLD1'))).toMatchObject({ tenant: 'oLD1', existingTenant: 'old1', existingSchema: `${prefix}_Old1` })
      expect(await h.containers()).toEqual(before)

      // An older version still running registers without the column: the next start fills it in...
      await oldInsert(one.registryTable, 'late', `${prefix}_Late`)
      expect((await manager(one).list()).map((t) => t.key)).toEqual(['late', 'old1'])
      expect(await folded(one.registryTable)).toEqual([['late', `${prefix}_late`], ['old1', `${prefix}_old1`]])
      // ...and refuses one that shares a schema, saying which and what to do.
      await oldInsert(one.registryTable, 'later', `${prefix}_LATE`)
      const refused = await manager(one).list().then(
        () => undefined,
        (e: unknown) => e as Error,
      )
      expect(refused).toBeInstanceOf(ConfigurationError)
      expect(refused?.message).toContain(`'late' → '${prefix}_Late' and 'later' → '${prefix}_LATE'`)
      expect(refused?.message).toMatch(/differ only in letter case.*delete its registry row, then start again/)
      await pool.query(`delete from ${one.registryTable} where tenant_key = 'later'`)
      expect((await manager(one).list()).map((t) => t.key)).toEqual(['late', 'old1'])

      // A registry whose tenants already shared a schema when it was first upgraded: refused until fixed, then upgraded.
      const two = h.legacy(2)
      await pool.query(oldRegistry(two.registryTable))
      await oldInsert(two.registryTable, 'p1', `${prefix}_p`)
      await oldInsert(two.registryTable, 'p2', `${prefix}_P`)
      await expect(manager(two).list()).rejects.toThrow(`'p1' → '${prefix}_p' and 'p2' → '${prefix}_P'`)
      await expect(manager(two).list()).rejects.toBeInstanceOf(ConfigurationError)
      await pool.query(`delete from ${two.registryTable} where tenant_key = 'p2'`)
      expect((await manager(two).list()).map((t) => t.key)).toEqual(['p1'])
      expect(await folded(two.registryTable)).toEqual([['p1', `${prefix}_p`]])
      expect(await conflict(manager(two).provision('P'))).toMatchObject({ existingTenant: 'p1' })
    })

    it('refuses to adopt a schema it did not create unless { adopt: true }, and never the registry\'s home', async () => {
      const olden = `${prefix}_olden`
      await pool.createSchema(olden)
      const m = manager()
      const err = await m.provision('olden').catch((e: unknown) => e)
      expect(err).toBeInstanceOf(TenantSchemaExistsError)
      expect(err).toMatchObject({ tenant: 'olden', schema: olden, reason: 'exists' })
      // Not registered (so drop cannot reach it), nothing migrated into it, still there.
      expect((await registered(m)).map(([k]) => k)).not.toContain('olden')
      expect(await h.containers()).toContain(olden)
      await expect(pool.query(`select * from ${pool.quoteIdentifier(olden)}.orders`)).rejects.toThrow()

      // Racing provisions of the key: the one that loses registration must not take the winner's refusal for a creation.
      for (let round = 0; round < 5; round++) {
        const outcomes = await Promise.allSettled(Array.from({ length: 4 }, () => manager().provision('olden')))
        for (const o of outcomes) expect(o.status === 'rejected' ? o.reason : o.value).toBeInstanceOf(TenantSchemaExistsError)
      }
      expect((await registered(m)).map(([k]) => k)).not.toContain('olden')
      await expect(pool.query(`select * from ${pool.quoteIdentifier(olden)}.orders`)).rejects.toThrow()

      expect(await m.provision('olden', { adopt: true })).toEqual({ key: 'olden', schema: olden, created: false, migrated: ['001_orders'] })
      expect(await ordersOf(olden)).toEqual(['olden'])

      // The registry's own schema (database on MySQL, main file on SQLite) is never a tenant's, adopt or not.
      const home = pool.capabilities.schemas ? 'switchyard' : pool.capabilities.schemaScoping === 'attached' ? 'main' : (await pool.query<{ d: string }>('select database() as d')).rows[0]!.d
      const onHome = manager({ mapping: new Map([['reg', home]]) })
      const reserved = await onHome.provision('reg', { adopt: true }).catch((e: unknown) => e)
      expect(reserved).toBeInstanceOf(TenantSchemaExistsError)
      expect(reserved).toMatchObject({ reason: 'reserved' })
      expect((reserved as Error).message).toMatch(/registry/)
      expect((await registered(m)).map(([k]) => k)).not.toContain('reg')
    })
  })
}
