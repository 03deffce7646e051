import { mkdir } from 'node:fs/promises'
import type { PGlite } from '@electric-sql/pglite'
import { ConfigurationError } from '../../errors.js'
import type { EngineSpec } from '../types.js'
import { PGLITE_CAPABILITIES, PglitePool } from './pool.js'

export type PgliteConnectionDetails =
  /** A data directory (created if missing); omitted = in memory. */
  | { readonly dataDir?: string; readonly instance?: undefined }
  /** An instance you opened yourself; Switchyard never closes it. */
  | { readonly instance: PGlite; readonly dataDir?: undefined }

/**
 * Embedded PostgreSQL (PGlite, WebAssembly) — one in-process connection, no server needed.
 *
 * @example
 * ```ts
 * import { createSwitchyard } from 'switchyard'
 * import { pglite } from 'switchyard/pglite'
 *
 * // pglite() alone is in memory; pglite({ dataDir: './.data/app' }) keeps the data on disk.
 * const sy = createSwitchyard({ databases: { default: pglite() } })
 * await sy.write('create table notes (id serial primary key, body text not null)')
 * await sy.write('insert into notes (body) values ($1)', ['hello'])
 * const { rows } = await sy.read('select body from notes') // [ { body: 'hello' } ]
 * await sy.close()
 * ```
 */
export function pglite(details: PgliteConnectionDetails = {}): EngineSpec {
  if (details.instance && details.dataDir) throw new ConfigurationError('pglite(): give either dataDir or instance, not both')
  const instance = details.instance
  const dataDir = details.dataDir
  const target = instance ? '(given instance)' : (dataDir ?? '(memory)')
  const open = instance
    ? () => instance.waitReady.then(() => instance)
    : async () => {
        const { PGlite } = await import('@electric-sql/pglite')
        // PGlite creates only the last path segment; the parents are ours to make.
        if (dataDir !== undefined) await mkdir(dataDir, { recursive: true })
        const db = new PGlite(dataDir)
        await db.waitReady
        return db
      }
  return Object.freeze({
    engine: 'pglite',
    capabilities: PGLITE_CAPABILITIES,
    description: Object.freeze({ dataDir: dataDir ?? null, instance: Boolean(instance) }),
    maxConnections: 1,
    createPool: () => new PglitePool(open, !instance, target),
  })
}

export { PglitePool, PGLITE_CAPABILITIES }
