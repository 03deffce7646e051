import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

// Reads the built package (dist/): the root `npm test` builds before it runs vitest.
const packageDir = join(dirname(fileURLToPath(import.meta.url)), '../..')
const repoRoot = join(packageDir, '../..')
const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
  name: string
  exports: Record<string, { types: string; import: string }>
}

/** What each subpath must offer a plain-Node consumer. A new subpath needs a line here. */
const EXPECTED: Record<string, readonly string[]> = {
  '.': ['createSwitchyard', 'Switchyard', 'withRouteContext', 'currentRouteContext', 'detached', 'PoolRegistry', 'SwitchyardError', 'UnknownAliasError', 'PoolExhaustedError', 'QueryCancelledError', 'rollbackErrorOf', 'StatementClassifier', 'routedKysely'],
  './postgres': ['postgres', 'PostgresPool', 'POSTGRES_CAPABILITIES'],
  './pglite': ['pglite', 'PglitePool', 'PGLITE_CAPABILITIES'],
  './mysql': ['mysql', 'MysqlPool', 'MYSQL_CAPABILITIES'],
  './sqlite': ['sqlite', 'SqlitePool', 'SQLITE_CAPABILITIES'],
  './kysely': ['routedKysely', 'RoutedDialect'],
  './sql': ['classifyParsed', 'StatementClassifier', 'analyzeStatement', 'guardAnalyzed', 'qualifyAnalyzed', 'ensureParser', 'UnqualifiableStatementError'],
  './schema': ['SchemaRouter', 'schemaMapping', 'validateSchemaName', 'tenantSchemaPlugin'],
  './tenancy': ['TenantManager', 'TenantMigrationError', 'TenantDropNotConfirmedError'],
}

/** Imports every subpath by package name in a separate plain `node`, as a consumer would. */
const PROBE = `
const [name, ...subpaths] = JSON.parse(process.argv[1])
const out = {}
for (const sub of subpaths) {
  const specifier = sub === '.' ? name : name + sub.slice(1)
  try {
    out[sub] = { names: Object.keys(await import(specifier)) }
  } catch (err) {
    out[sub] = { error: String(err && err.message || err) }
  }
}
process.stdout.write(JSON.stringify(out))
`

describe('the package exports, imported by plain node', () => {
  it('lists exactly the subpaths this test knows', () => {
    expect(Object.keys(manifest.exports).sort()).toEqual(Object.keys(EXPECTED).sort())
  })

  it('every subpath points at built JavaScript and declarations that exist', () => {
    for (const [sub, target] of Object.entries(manifest.exports)) {
      expect(existsSync(join(packageDir, target.import)), `${sub} -> ${target.import}`).toBe(true)
      expect(existsSync(join(packageDir, target.types)), `${sub} -> ${target.types}`).toBe(true)
    }
  })

  it('every subpath imports by name and has its named exports', async () => {
    const subpaths = Object.keys(manifest.exports)
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', PROBE, JSON.stringify([manifest.name, ...subpaths])], {
      // From the repository root, the name resolves through node_modules like any dependency.
      cwd: repoRoot,
      timeout: 30_000,
    })
    const found = JSON.parse(stdout) as Record<string, { names?: string[]; error?: string }>
    for (const sub of subpaths) {
      expect(found[sub]?.error, `import '${sub}'`).toBeUndefined()
      expect(found[sub]?.names, `exports of '${sub}'`).toEqual(expect.arrayContaining([...(EXPECTED[sub] ?? ['(no expectation)'])]))
    }
  })
})
