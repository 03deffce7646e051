import { isAbsolute, relative, resolve, sep } from 'node:path'
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
  /** PostgreSQL databases: statements prepared per connection (0: none). */
  readonly pgStatementCache: number
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
      return engine === 'postgres' ? postgres({ ...common, port: port(details.port, 5432), statementCache: policy.pgStatementCache }) : mysql({ ...common, port: port(details.port, 3306) })
    }
    case 'pglite': {
      if (!policy.allowEmbedded) throw badRequest('Embedded (pglite) databases are only available in demo and embedded mode')
      const dir = details['data-dir']
      if (dir === undefined) return pglite()
      return pglite({ dataDir: embeddedDataDir(dir, policy) })
    }
    default:
      throw badRequest(`Unsupported engine ${JSON.stringify(engine)}; supported: ${SUPPORTED_ENGINES.join(', ')}`)
  }
}

/** The metadata store's own directory under the data directory (see `buildApp`). */
export const STORE_DIR = 'store'

/**
 * Where an embedded database's `data-dir` detail points: a directory strictly inside the
 * server's data directory, and never the metadata store's own (opening the store's files as
 * a second database would corrupt both) nor the data directory itself, which holds it.
 */
export function embeddedDataDir(dir: unknown, policy: ConnectionPolicy): string {
  if (typeof dir !== 'string' || dir.trim() === '') throw badRequest('details.data-dir must be a non-empty relative path')
  if (isAbsolute(dir) || dir.includes('\0')) throw badRequest('details.data-dir must be a relative path')
  const root = resolve(policy.dataDir)
  const full = resolve(root, dir)
  const rel = relative(root, full)
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw badRequest('details.data-dir must stay inside the server data directory (a sub-directory of it)')
  if (rel === STORE_DIR || rel.startsWith(`${STORE_DIR}${sep}`)) throw badRequest(`details.data-dir cannot be the metadata store's directory ("${STORE_DIR}")`)
  return full
}

/** Detail keys Metabase and its drivers use for secrets; anything matching {@link SECRET_PATTERN} counts too. */
const SECRET_KEYS = new Set([
  'password',
  'pass',
  'tunnel-pass',
  'tunnel-private-key',
  'tunnel-private-key-passphrase',
  'ssl-key-value',
  'ssl-key-password-value',
  'ssl-client-key',
  'ssl-client-key-value',
  'ssl-client-key-password',
  'ssl-keystore-value',
  'ssl-keystore-password-value',
  'ssl-truststore-value',
  'ssl-truststore-password-value',
  'service-account-json',
  'access-token',
  'secret-key',
  'api-key',
])
const SECRET_PATTERN = /pass|secret|private-key|token|credential|client-key|key-value|keystore|api-key|access-key|service-account/i

export function isSecretDetailKey(key: string): boolean {
  return SECRET_KEYS.has(key.toLowerCase()) || SECRET_PATTERN.test(key)
}

/**
 * Where a stored secret may be sent: the keys naming the server, the account and the channel.
 * A client that changes one of these must send the secrets again; otherwise anyone allowed to
 * edit a database could point it at a server of theirs and receive the stored password.
 */
const DESTINATION_KEYS = ['host', 'port', 'user', 'ssl', 'tunnel-host', 'tunnel-port', 'tunnel-user'] as const

/**
 * Details sent back by a client, with the secrets it never saw restored from the stored ones
 * (at any depth): a secret the client omits or sends as null keeps its stored value, as long
 * as the details still point at the same server, account and channel. When one of those
 * changed, an omitted secret is a 400 naming it: it must be sent again.
 *
 * @example
 * ```ts
 * withStoredSecrets({ host: 'db', dbname: 'b' }, { host: 'db', dbname: 'a', password: 'x' }) // { host: 'db', dbname: 'b', password: 'x' }
 * withStoredSecrets({ host: 'elsewhere' }, { host: 'db', password: 'x' }) // throws 400: details.password must be sent again
 * ```
 */
export function withStoredSecrets(incoming: ConnectionDetails, stored: ConnectionDetails): ConnectionDetails {
  return restore(incoming, stored, 'details', undefined) as ConnectionDetails
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** A destination key whose value differs here, e.g. `details.host`; absent, null, '' and false count as the same (unset). */
function movedKey(incoming: Record<string, unknown>, stored: Record<string, unknown>, path: string): string | undefined {
  const norm = (v: unknown) => (v === undefined || v === null || v === '' || v === false ? undefined : String(v))
  const key = DESTINATION_KEYS.find((k) => norm(incoming[k]) !== norm(stored[k]))
  return key === undefined ? undefined : `${path}.${key}`
}

function restore(incoming: Record<string, unknown>, stored: Record<string, unknown>, path: string, movedAbove: string | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { ...incoming }
  const moved = movedAbove ?? movedKey(incoming, stored, path)
  for (const [k, v] of Object.entries(stored)) {
    if (isSecretDetailKey(k)) {
      if (out[k] !== undefined && out[k] !== null) continue
      if (moved !== undefined) throw badRequest(`${path}.${k} must be sent again: ${moved} changed, and a stored secret is only sent to the server it was entered for`)
      out[k] = v
    } else if (isPlainObject(v) && isPlainObject(out[k])) {
      out[k] = restore(out[k] as Record<string, unknown>, v, `${path}.${k}`, moved)
    }
  }
  return out
}

/**
 * Connection details as any endpoint returns them: every secret-looking key removed, at any
 * depth, so a driver's key we have never heard of is still caught by its name.
 *
 * @example
 * ```ts
 * publicDetails({ host: 'db', password: 'x', 'tunnel-pass': 'y' }) // { host: 'db' }
 * ```
 */
export function publicDetails(details: ConnectionDetails): Record<string, unknown> {
  return stripSecrets(details) as Record<string, unknown>
}

function stripSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripSecrets)
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) if (!isSecretDetailKey(k)) out[k] = stripSecrets(v)
  return out
}
