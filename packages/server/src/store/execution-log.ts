import type { StoreDb } from './store.js'
import { MetadataStoreError } from './store-error.js'

export interface ExecutionRecord {
  /** When the run started, ISO 8601: a batch is written later, so the row's default (now()) would be the flush time. */
  startedAt: string
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
    // An error message can quote what a caller sent (a tag name, a value): one NUL or lone
    // surrogate in it and the store refuses the whole batch, every user's runs with it.
    if (r.error !== null) r = { ...r, error: storable(r.error) }
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
      this.#insert(batch).catch((err: unknown) =>
        // A value the store refused (SQLSTATE class 22) is one record's fault: write the batch
        // row by row so the rest are kept. Any other failure (the store is down) is reported once.
        err instanceof MetadataStoreError && err.sqlState?.startsWith('22') && batch.length > 1 ? this.#oneByOne(batch) : this.onError(err),
      ),
    )
    return this.#flushing
  }

  async #oneByOne(batch: readonly ExecutionRecord[]): Promise<void> {
    for (const r of batch) await this.#insert([r]).catch(this.onError)
  }

  #insert(batch: readonly ExecutionRecord[]): Promise<void> {
    return this.store
      // One JSON document, not ten arrays: JSON.stringify is native, while the driver escapes
      // array elements one by one in JavaScript on the server's event loop.
      .query(
        `insert into query_executions (started_at, user_id, api_key_id, card_id, router_database_id, database_id, running_time, row_count, cache_hit, error, context)
         select "startedAt", "userId", "apiKeyId", "cardId", "routerDatabaseId", "databaseId", "runningTime", "rowCount", "cacheHit", error, context
           from json_to_recordset($1::json) as r("startedAt" timestamptz, "userId" int, "apiKeyId" int, "cardId" int, "routerDatabaseId" int,
                "databaseId" int, "runningTime" int, "rowCount" int, "cacheHit" boolean, error text, context text)`,
        [JSON.stringify(batch)],
      )
      .then(() => undefined)
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/** Text PostgreSQL can store: no NUL, no half of a surrogate pair (each becomes U+FFFD). */
export function storable(text: string): string {
  return text.replaceAll('\u0000', '\uFFFD').replace(LONE_SURROGATE, '\uFFFD')
}
