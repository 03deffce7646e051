/**
 * A short-lived read cache for metadata the hot path reads on every question run (sessions,
 * API keys, cards, databases, destinations by slug). Any write through this instance clears
 * it; another instance's write is seen after at most `ttlMs`. That bound is the price of not
 * asking the store four times per run.
 */
export class MetadataCache {
  readonly #entries = new Map<string, { value: unknown; expires: number }>()

  constructor(
    private readonly ttlMs = 1000,
    private readonly maxEntries = 10_000,
  ) {}

  /** The cached value if it is still fresh; never loads. Lets the hot path stay synchronous on a hit. */
  peek<T>(key: string): T | undefined {
    const hit = this.#entries.get(key)
    return hit && hit.expires > Date.now() ? (hit.value as T) : undefined
  }

  /** The cached value, synchronously on a hit (no promise on the hot path), else `load`'s answer. */
  get<T>(key: string, load: () => Promise<T>): T | Promise<T> {
    const hit = this.#entries.get(key)
    const now = Date.now()
    if (hit && hit.expires > now) return hit.value as T
    return load().then((value) => {
      // Misses are not cached: a row created a moment later must be found at once.
      if (value !== undefined && value !== null) {
        if (this.#entries.size >= this.maxEntries) this.#entries.clear()
        this.#entries.set(key, { value, expires: now + this.ttlMs })
      }
      return value
    })
  }

  clear(): void {
    this.#entries.clear()
  }
}
