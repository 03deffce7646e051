/**
 * A bounded least-recently-used map. Map iteration order is insertion order, so a hit is
 * re-inserted to become the newest and eviction takes the first key.
 */
export class Lru<K, V> {
  readonly #map = new Map<K, V>()

  constructor(readonly capacity: number, private readonly onEvict?: (key: K, value: V) => void) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`LRU capacity must be a positive integer, got ${capacity}`)
  }

  get size(): number {
    return this.#map.size
  }

  get(key: K): V | undefined {
    const value = this.#map.get(key)
    if (value !== undefined) {
      this.#map.delete(key)
      this.#map.set(key, value)
    }
    return value
  }

  /** Reads without touching recency. */
  peek(key: K): V | undefined {
    return this.#map.get(key)
  }

  set(key: K, value: V): void {
    if (this.#map.has(key)) this.#map.delete(key)
    this.#map.set(key, value)
    while (this.#map.size > this.capacity) this.evictOldest()
  }

  delete(key: K): boolean {
    return this.#map.delete(key)
  }

  /** Removes and reports the least recently used entry. */
  evictOldest(): [K, V] | undefined {
    const first = this.#map.entries().next()
    if (first.done) return undefined
    const [key, value] = first.value
    this.#map.delete(key)
    this.onEvict?.(key, value)
    return [key, value]
  }

  keys(): IterableIterator<K> {
    return this.#map.keys()
  }

  values(): IterableIterator<V> {
    return this.#map.values()
  }

  clear(): void {
    this.#map.clear()
  }
}
