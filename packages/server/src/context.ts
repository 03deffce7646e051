import type { ResultCache } from './cache/result-cache.js'
import type { ConnectionPolicy } from './databases/connection.js'
import type { DatabasePools } from './databases/pools.js'
import type { MetadataStore } from './store/store.js'
import type { MetadataCache } from './store/metadata-cache.js'
import type { ExecutionLog } from './store/execution-log.js'

/** What route handlers share: built once per app, passed explicitly (no globals). */
export interface ServerContext {
  readonly store: MetadataStore
  readonly pools: DatabasePools
  readonly policy: ConnectionPolicy
  readonly cache: ResultCache
  /** Shared secret for JWT single sign-on; SSO is off without one. */
  readonly jwtSecret: string | undefined
  /** Hot-path metadata reads (sessions, cards, databases), cleared by every write. */
  readonly metadata: MetadataCache
  readonly executions: ExecutionLog
  /** Sessions older than this are dead (Metabase's MAX_SESSION_AGE, default 14 days). */
  readonly sessionMaxAgeMinutes: number
}
