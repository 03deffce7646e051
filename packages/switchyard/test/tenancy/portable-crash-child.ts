// Run by the SQLite and MariaDB tenancy tests in a child process that they kill with SIGKILL
// mid-migration: a real crash. Args: engine (sqlite|mysql), filename or connection string,
// how many tenants' migration 004 may finish before the next one hangs, tenancy mapping.
import { mysql } from '../../src/engines/mysql/index.js'
import { sqlite } from '../../src/engines/sqlite/index.js'
import { TenantManager } from '../../src/tenancy/index.js'
import { marker, portableBase, uniqueQty } from './portable-fixtures.js'

const [engine, target, crashAfterArg, mapping] = process.argv.slice(2)
const crashAfter = Number(crashAfterArg)
let started = 0
const spec = engine === 'sqlite' ? sqlite({ filename: target! }) : mysql({ connectionString: target!, max: 4 })
const manager = new TenantManager({
  pool: spec.createPool(),
  mapping: mapping!,
  migrations: [
    ...portableBase,
    uniqueQty,
    marker(async () => {
      if (++started > crashAfter) {
        process.stdout.write('hung\n')
        await new Promise(() => {}) // never returns: the parent kills this process here, mid-migration
      }
    }),
  ],
})
await manager.migrate({ concurrency: 1, onProgress: (p) => process.stdout.write(`${p.status} ${p.tenant}\n`) })
process.stdout.write('finished\n')
