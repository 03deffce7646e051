import { isAbsolute, relative, resolve } from 'node:path'
import type { EngineSpec } from 'switchyard'
import { mysql } from 'switchyard/mysql'
import { pglite } from 'switchyard/pglite'
import { postgres } from 'switchyard/postgres'
import { badRequest } from '../http/errors.js'

/** Metabase's connection detail keys; anything else (tunnel-enabled, schema-filters-type, ...) is kept but ignored. */
export interface ConnectionDetails {
  host?: string
  port?: number | string
  dbname?: string
  user?: string
  password?: string
  ssl?: boolean
  /** Embedded PGlite only: a directory under the server's data directory. */
  'data-dir'?: string
  [other: string]: unknown
}

export interface ConnectionPolicy {
  /** Whether embedded PGlite databases may be created (demo and tests); off for a public server. */
  readonly allowEmbedded: boolean
  /** Where embedded data directories live; a detail cannot point outside it. */
  readonly dataDir: string
}

export const SUPPORTED_ENGINES = ['postgres', 'mysql', 'pglite'] as const

function port(value: unknown, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw badRequest(`details.port must be a port number, got ${JSON.stringify(value)}`)
  return n
}

/** Turns an engine name and Metabase-style details into a Switchyard engine. */
export function engineSpecFor(engine: string, details: ConnectionDetails, policy: ConnectionPolicy): EngineSpec {
  switch (engine) {
    case 'postgres':
    case 'mysql': {
      if (!details.host) throw badRequest('details.host is required')
      const common = {
        host: details.host,
        database: details.dbname,
        user: details.user,
        password: details.password,
        ssl: Boolean(details.ssl),
        max: 10,
        connectTimeoutMs: 10_000,
      }
      return engine === 'postgres' ? postgres({ ...common, port: port(details.port, 5432) }) : mysql({ ...common, port: port(details.port, 3306) })
    }
    case 'pglite': {
      if (!policy.allowEmbedded) throw badRequest('Embedded (pglite) databases are only available in demo and embedded mode')
      const dir = details['data-dir']
      if (dir === undefined) return pglite()
      if (typeof dir !== 'string' || isAbsolute(dir)) throw badRequest('details.data-dir must be a relative path')
      const full = resolve(policy.dataDir, dir)
      if (relative(policy.dataDir, full).startsWith('..')) throw badRequest('details.data-dir must stay inside the server data directory')
      return pglite({ dataDir: full })
    }
    default:
      throw badRequest(`Unsupported engine ${JSON.stringify(engine)}; supported: ${SUPPORTED_ENGINES.join(', ')}`)
  }
}

/** Connection details as any endpoint returns them: never the password. */
export function publicDetails(details: ConnectionDetails): Record<string, unknown> {
  const { password: _password, ...rest } = details
  return rest
}
