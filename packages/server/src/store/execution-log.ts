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
  #buffer: RecordTuple[] = []
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
    this.#buffer.push([r.startedAt, r.userId, r.apiKeyId, r.cardId, r.routerDatabaseId, r.databaseId, r.runningTime, r.rowCount, r.cacheHit, r.error === null ? null : storable(r.error), r.context])
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

  async #oneByOne(batch: readonly RecordTuple[]): Promise<void> {
    for (const r of batch) await this.#insert([r]).catch(this.onError)
  }

  #insert(batch: readonly RecordTuple[]): Promise<void> {
    return this.store
      // One JSON document of arrays: JSON.stringify is native, while the driver escapes array
      // parameters element by element in JavaScript on the server's event loop; arrays rather
      // than objects because every run writes a row, and keys repeated per row doubled both the
      // serialising here and the parsing in the store (measured: 1.2 against 0.6 µs a row here).
      .query(
        `insert into query_executions (started_at, user_id, api_key_id, card_id, router_database_id, database_id, running_time, row_count, cache_hit, error, context)
         select (r->>0)::timestamptz, (r->>1)::int, (r->>2)::int, (r->>3)::int, (r->>4)::int, (r->>5)::int, (r->>6)::int, (r->>7)::int, (r->>8)::boolean, r->>9, r->>10
           from jsonb_array_elements($1::jsonb) as r`,
        [JSON.stringify(batch)],
      )
      .then(() => undefined)
  }
}

/** One record as the store receives it: the columns of the insert, in order. */
type RecordTuple = readonly [
  startedAt: string,
  userId: number | null,
  apiKeyId: number | null,
  cardId: number | null,
  routerDatabaseId: number,
  databaseId: number | null,
  runningTime: number,
  rowCount: number | null,
  cacheHit: boolean,
  error: string | null,
  context: string,
]

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/** Text PostgreSQL can store: no NUL, no half of a surrogate pair (each becomes U+FFFD). */
export function storable(text: string): string {
  return text.replaceAll('\u0000', '\uFFFD').replace(LONE_SURROGATE, '\uFFFD')
}
