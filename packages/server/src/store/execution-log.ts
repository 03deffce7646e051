import type { StoreDb } from './store.js'

export interface ExecutionRecord {
  userId: number | null
  apiKeyId: number | null
  cardId: number | null
  routerDatabaseId: number
  /** Null when routing refused the run: it ran nowhere. */
  databaseId: number | null
  runningTime: number
  rowCount: number | null
  cacheHit: boolean
  error: string | null
  context: string
}

/**
 * Records question runs off the request path: rows are buffered and written in one
 * multi-row insert every `intervalMs` (or sooner when `maxBatch` pile up). `flush()` on
 * close writes what is left; a crash loses at most one interval of records.
 */
export class ExecutionLog {
  #buffer: ExecutionRecord[] = []
  #timer: NodeJS.Timeout | undefined
  #flushing: Promise<void> = Promise.resolve()

  constructor(
    private readonly store: StoreDb,
    private readonly intervalMs = 100,
    private readonly maxBatch = 500,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  record(r: ExecutionRecord): void {
    this.#buffer.push(r)
    if (this.#buffer.length >= this.maxBatch) void this.flush()
    else this.#timer ??= setTimeout(() => void this.flush(), this.intervalMs)
  }

  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    const batch = this.#buffer
    this.#buffer = []
    if (batch.length === 0) return this.#flushing
    this.#flushing = this.#flushing.then(() =>
      this.store
        .query(
          `insert into query_executions (user_id, api_key_id, card_id, router_database_id, database_id, running_time, row_count, cache_hit, error, context)
           select * from unnest($1::int[], $2::int[], $3::int[], $4::int[], $5::int[], $6::int[], $7::int[], $8::bool[], $9::text[], $10::text[])`,
          [
            batch.map((r) => r.userId),
            batch.map((r) => r.apiKeyId),
            batch.map((r) => r.cardId),
            batch.map((r) => r.routerDatabaseId),
            batch.map((r) => r.databaseId),
            batch.map((r) => r.runningTime),
            batch.map((r) => r.rowCount),
            batch.map((r) => r.cacheHit),
            batch.map((r) => r.error),
            batch.map((r) => r.context),
          ],
        )
        .then(() => undefined, this.onError),
    )
    return this.#flushing
  }
}
