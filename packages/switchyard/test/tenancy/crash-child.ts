// Run by migrate.test.ts in a child process that it kills with SIGKILL mid-migration: a real crash.
// Args: connection string, how many tenants' migration 004 may finish before the rest hang.
import { postgres } from '../../src/engines/postgres/index.js'
import { TenantManager } from '../../src/tenancy/index.js'
import { base, positive, recording } from './fixtures.js'

const [connectionString, crashAfterArg] = process.argv.slice(2)
const crashAfter = Number(crashAfterArg)
let started = 0
const pool = postgres({ connectionString: connectionString!, max: 10 }).createPool()
const manager = new TenantManager({
  pool,
  migrations: [
    ...base,
    positive,
    recording(async () => {
      if (++started > crashAfter) {
        process.stdout.write('hung\n')
        await new Promise(() => {}) // never returns: the parent kills this process here, transactions open
      }
    }),
  ],
})
await manager.migrate({ concurrency: 6, onProgress: (p) => process.stdout.write(`${p.status} ${p.tenant}\n`) })
process.stdout.write('finished\n')
