import { ConfigurationError, PoolClosedError, SwitchyardError, UnknownAliasError } from '../errors.js'
import type { EnginePool, EngineSpec } from '../engines/types.js'
import { Lru } from '../util/lru.js'

/** Supplies aliases on demand (`tenant:acme` → its connection details). `undefined` = unknown. */
export type AliasResolver = (alias: string) => EngineSpec | undefined | Promise<EngineSpec | undefined>

export interface PoolRegistryOptions {
  /** Aliases configured up front. They are never evicted. */
  readonly databases: Readonly<Record<string, EngineSpec>>
  readonly resolveAlias?: AliasResolver
  /** Most pools open at once for resolved aliases (an LRU). Default 100. */
  readonly maxOpenPools?: number
  /** Most connections all open pools may hold together (sum of their `max`). Default unbounded. */
  readonly maxConnections?: number
}

interface Entry {
  readonly alias: string
  readonly spec: EngineSpec
  readonly pool: EnginePool
  readonly pinned: boolean
  inFlight: number
  evicted: boolean
  drained?: () => void
  closed?: Promise<void>
  /** Set for configured aliases: the lease-free handle of {@link PoolRegistry.pinnedPool}. */
  handle?: PinnedPool
}

/**
 * A configured alias's open pool with shared functions that count its statements in flight:
 * `enter()` before one starts, `leave()` once it settles. Nothing is allocated per statement,
 * and closing the registry still waits for every statement counted.
 */
export interface PinnedPool {
  readonly alias: string
  readonly pool: EnginePool
  enter(): void
  leave(): void
}

/** A pool borrowed for one statement or transaction; `release()` exactly once when done. */
export interface PoolLease {
  readonly alias: string
  readonly spec: EngineSpec
  readonly pool: EnginePool
  release(): void
}

/**
 * Opens pools lazily per alias and keeps resolved (tenant) pools in an LRU bounded by
 * `maxOpenPools` and a global connection cap. An evicted pool stops taking new work but
 * closes only after the statements it is running finish, so eviction never fails a query.
 * `createSwitchyard` makes one of these; it is usable on its own.
 *
 * @example
 * ```ts
 * import { PoolRegistry } from 'switchyard'
 * import { sqlite } from 'switchyard/sqlite'
 *
 * const registry = new PoolRegistry({
 *   databases: { default: sqlite({ filename: ':memory:' }) },
 *   // Tenants are resolved on first use; at most 2 of their pools stay open.
 *   resolveAlias: (alias) => (alias.startsWith('tenant:') ? sqlite({ filename: ':memory:' }) : undefined),
 *   maxOpenPools: 2,
 * })
 * const lease = await registry.acquire('tenant:acme')
 * try {
 *   await lease.pool.query('select 1')
 * } finally {
 *   lease.release()
 * }
 * console.log(registry.stats()) // { openPools: 1, resolvedPools: 1, connectionBudgetUsed: 1 }
 * await registry.close()
 * ```
 */
export class PoolRegistry {
  readonly #static: Readonly<Record<string, EngineSpec>>
  readonly #resolve: AliasResolver | undefined
  readonly #maxConnections: number
  readonly #open = new Map<string, Entry>()
  readonly #lru: Lru<string, Entry>
  readonly #opening = new Map<string, Promise<Entry>>()
  #connections = 0
  #reservedPools = 0
  /** Connections of evicted pools that are draining: already promised back to the budget. */
  #freeing = 0
  #progress: (() => void)[] = []
  #closed = false
  /** Evicted pools still draining or closing; close() waits for them too. */
  readonly #retiring = new Set<Promise<void>>()

  constructor(options: PoolRegistryOptions) {
    this.#static = Object.freeze({ ...options.databases })
    this.#resolve = options.resolveAlias
    this.#maxConnections = options.maxConnections ?? Number.POSITIVE_INFINITY
    const maxOpen = options.maxOpenPools ?? 100
    if (!Number.isInteger(maxOpen) || maxOpen < 1) throw new ConfigurationError(`maxOpenPools must be a positive integer, got ${String(options.maxOpenPools)}`)
    // Eviction is driven by hand (#evict) so the LRU never drops an entry on its own.
    this.#lru = new Lru(Number.MAX_SAFE_INTEGER)
    this.maxOpenPools = maxOpen
  }

  readonly maxOpenPools: number

  /** Configured aliases plus the ones resolved and open now. */
  knownAliases(): string[] {
    return [...new Set([...Object.keys(this.#static), ...this.#open.keys()])]
  }

  /** The spec of an alias without opening its pool (resolving it if needed). */
  async spec(alias: string): Promise<EngineSpec> {
    const open = this.#open.get(alias)
    if (open && !open.evicted) return open.spec
    const configured = this.#static[alias]
    if (configured) return configured
    return this.#resolveSpec(alias)
  }

  /** Asks the resolver; whatever it throws or returns wrongly becomes a typed error naming the alias. */
  async #resolveSpec(alias: string): Promise<EngineSpec> {
    let resolved: unknown
    try {
      resolved = await this.#resolve?.(alias)
    } catch (err) {
      if (err instanceof SwitchyardError) throw err
      const reason = err instanceof Error ? err.message : String(err)
      throw new ConfigurationError(`resolveAlias('${alias}') threw: ${reason}`, { cause: err })
    }
    if (resolved === undefined || resolved === null) throw new UnknownAliasError(alias, this.knownAliases())
    if (!isEngineSpec(resolved)) {
      throw new ConfigurationError(`resolveAlias('${alias}') returned something that is not an engine spec (expected e.g. postgres({ ... }))`)
    }
    return resolved
  }

  /** Synchronous spec lookup for configured or currently open aliases. */
  peekSpec(alias: string): EngineSpec | undefined {
    return this.#static[alias] ?? this.#open.get(alias)?.spec
  }

  /**
   * The open pool of a configured (pinned) alias as a lease-free handle, or undefined (not
   * configured, not open yet, or the registry is closed). Pinned pools are never evicted, so
   * the per-statement path needs no lease object, only the in-flight count that `close()`
   * waits on.
   */
  pinnedPool(alias: string): PinnedPool | undefined {
    const entry = this.#open.get(alias)
    return entry !== undefined && !this.#closed ? entry.handle : undefined
  }

  /** The synchronous fast path: a lease on an already open pool, or undefined. */
  tryAcquire(alias: string): PoolLease | undefined {
    const entry = this.#open.get(alias)
    if (!entry || entry.evicted || this.#closed) return undefined
    if (!entry.pinned) this.#lru.get(alias)
    return this.#lease(entry)
  }

  async acquire(alias: string): Promise<PoolLease> {
    if (this.#closed) throw this.#closedError()
    let entry = this.#open.get(alias)
    // A pool can be evicted by a concurrent open while we await ours: then open it again.
    while (!entry || entry.evicted) {
      entry = await this.#openPool(alias)
      if (this.#closed) throw this.#closedError()
    }
    if (!entry.pinned) this.#lru.get(alias)
    return this.#lease(entry)
  }

  #lease(e: Entry): PoolLease {
    e.inFlight++
    let released = false
    return {
      alias: e.alias,
      spec: e.spec,
      pool: e.pool,
      release: () => {
        if (released) return
        released = true
        e.inFlight--
        if (e.inFlight === 0) e.drained?.()
      },
    }
  }

  /** Open pools and connections, for metrics and tests. */
  stats(): { openPools: number; resolvedPools: number; connectionBudgetUsed: number } {
    return { openPools: this.#open.size, resolvedPools: this.#lru.size, connectionBudgetUsed: this.#connections }
  }

  isOpen(alias: string): boolean {
    const e = this.#open.get(alias)
    return e !== undefined && !e.evicted
  }

  /**
   * Stops taking work, then closes every pool after its statements finish, including pools
   * still being opened when it was called. Later `acquire` calls fail with POOL_CLOSED.
   */
  async close(): Promise<void> {
    this.#closed = true
    // Opens waiting for room must not wait for a budget that nothing will free any more.
    this.#notify()
    // An open in progress registers its pool when it finishes: wait for it, then close that too.
    while (this.#opening.size > 0) await Promise.allSettled([...this.#opening.values()])
    await Promise.all([...this.#open.values()].map((e) => this.#retire(e)))
    // Pools evicted earlier may still be draining: closed means every connection is given back.
    await Promise.all([...this.#retiring])
  }

  #closedError(): PoolClosedError {
    return new PoolClosedError('This Switchyard (its pool registry)')
  }

  async #openPool(alias: string): Promise<Entry> {
    let opening = this.#opening.get(alias)
    if (!opening) {
      opening = (async () => {
        const configured = this.#static[alias]
        const spec = configured ?? (await this.#resolveSpec(alias))
        const pinned = configured !== undefined
        await this.#makeRoom(pinned ? 0 : 1, spec.maxConnections)
        let pool: EnginePool
        try {
          if (this.#closed) throw this.#closedError()
          pool = spec.createPool()
        } catch (err) {
          if (!pinned) this.#reservedPools--
          this.#connections -= spec.maxConnections
          this.#notify()
          if (err instanceof SwitchyardError) throw err
          const reason = err instanceof Error ? err.message : String(err)
          throw new ConfigurationError(`Cannot open a ${spec.engine} pool for alias '${alias}': ${reason}`, { cause: err })
        }
        const entry: Entry = { alias, spec, pool, pinned, inFlight: 0, evicted: false }
        if (pinned) {
          entry.handle = Object.freeze({
            alias,
            pool,
            enter: () => {
              entry.inFlight++
            },
            leave: () => {
              entry.inFlight--
              if (entry.inFlight === 0) entry.drained?.()
            },
          })
        }
        this.#open.set(alias, entry)
        if (!pinned) {
          this.#reservedPools--
          this.#lru.set(alias, entry)
        }
        this.#notify()
        return entry
      })().finally(() => this.#opening.delete(alias))
      this.#opening.set(alias, opening)
    }
    return opening
  }

  /**
   * Evicts least recently used resolved pools until one more pool with `connections` fits.
   * When the budget is held by pools still being opened or drained, waits for them instead
   * of failing: they become evictable (or free) shortly.
   */
  async #makeRoom(pools: number, connections: number): Promise<void> {
    for (;;) {
      if (this.#closed) throw this.#closedError()
      while (this.#lru.size + this.#reservedPools + pools > this.maxOpenPools || this.#connections - this.#freeing + connections > this.#maxConnections) {
        const oldest = this.#lru.evictOldest()
        if (!oldest) break
        void this.#retire(oldest[1])
      }
      const poolsFit = this.#lru.size + this.#reservedPools + pools <= this.maxOpenPools
      // Connections of draining pools still count until they are closed: the cap is strict.
      const connectionsFit = this.#connections + connections <= this.#maxConnections
      if (poolsFit && connectionsFit) break
      if (this.#reservedPools === 0 && this.#freeing === 0 && this.#lru.size === 0) {
        throw new ConfigurationError(`Cannot open another pool: the connection cap (${this.#maxConnections}) is taken by configured aliases`)
      }
      await new Promise<void>((resolve) => this.#progress.push(resolve))
    }
    // Reserve synchronously, right after the check, so concurrent opens cannot both take the last slot.
    this.#reservedPools += pools
    this.#connections += connections
  }

  /** Wakes opens waiting for room: a pool finished opening or closing. */
  #notify(): void {
    const waiting = this.#progress.splice(0)
    for (const wake of waiting) wake()
  }

  #retire(entry: Entry): Promise<void> {
    if (entry.closed) return entry.closed
    entry.evicted = true
    this.#lru.delete(entry.alias)
    if (this.#open.get(entry.alias) === entry) this.#open.delete(entry.alias)
    this.#freeing += entry.spec.maxConnections
    const drained = entry.inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (entry.drained = resolve))
    entry.closed = drained
      .then(() => entry.pool.close())
      .catch(() => {})
      .finally(() => {
        this.#freeing -= entry.spec.maxConnections
        this.#connections -= entry.spec.maxConnections
        this.#notify()
      })
    const closed = entry.closed
    this.#retiring.add(closed)
    void closed.finally(() => this.#retiring.delete(closed))
    return closed
  }
}

function isEngineSpec(value: unknown): value is EngineSpec {
  const v = value as Partial<EngineSpec> | null
  return typeof v === 'object' && v !== null && typeof v.createPool === 'function' && typeof v.maxConnections === 'number' && typeof v.capabilities === 'object'
}
