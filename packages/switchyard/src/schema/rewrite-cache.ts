/** A node of an intrusive doubly linked recency list: the head is the most recently used. */
interface Link {
  prev: Link | undefined
  next: Link | undefined
}

class RecencyList<N extends Link> {
  head: N | undefined
  tail: N | undefined

  pushFront(node: N): void {
    node.prev = undefined
    node.next = this.head
    if (this.head) this.head.prev = node
    this.head = node
    this.tail ??= node
  }

  remove(node: N): void {
    if (node.prev) node.prev.next = node.next
    else this.head = node.next as N | undefined
    if (node.next) node.next.prev = node.prev
    else this.tail = node.prev as N | undefined
    node.prev = node.next = undefined
  }

  touch(node: N): void {
    if (this.head === node) return
    this.remove(node)
    this.pushFront(node)
  }
}

interface RewriteNode<V> extends Link {
  readonly schema: string
  readonly statement: StatementNode<unknown, V>
  readonly value: V
}

interface StatementNode<A, V> extends Link {
  readonly sql: string
  readonly analysis: A
  /** This statement's rewrites, one per schema; every node is also on the cache-wide rewrite list. */
  readonly bySchema: Map<string, RewriteNode<V>>
}

/**
 * Statement analyses (one per text, `statementCapacity` at most) and their per-schema rewrites
 * (`rewriteCapacity` at most in total, over every statement and schema), each evicted least
 * recently used first.
 *
 * Rewrites are found through their statement (text, then schema) rather than under a joined
 * `schema + sep + text` key: a hit then hashes no new string (a statement text passed as the same
 * constant keeps its hash) and allocates nothing, and recency is kept by relinking list nodes
 * instead of deleting and re-inserting map entries. Evicting a statement drops its rewrites.
 */
export class RewriteCache<A, V> {
  readonly #statements = new Map<string, StatementNode<A, V>>()
  readonly #statementOrder = new RecencyList<StatementNode<A, V>>()
  readonly #rewriteOrder = new RecencyList<RewriteNode<V>>()
  #rewrites = 0

  constructor(
    readonly statementCapacity: number,
    readonly rewriteCapacity: number,
  ) {
    for (const [name, n] of [['statement', statementCapacity], ['rewrite', rewriteCapacity]] as const) {
      if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} cache capacity must be a positive integer, got ${n}`)
    }
  }

  get sizes(): { readonly analyses: number; readonly rewrites: number } {
    return { analyses: this.#statements.size, rewrites: this.#rewrites }
  }

  /** The rewrite of `sql` for `schema`, if cached (marks both as recently used). */
  get(sql: string, schema: string): V | undefined {
    const statement = this.#statements.get(sql)
    if (statement === undefined) return undefined
    this.#statementOrder.touch(statement)
    const node = statement.bySchema.get(schema)
    if (node === undefined) return undefined
    this.#rewriteOrder.touch(node)
    return node.value
  }

  /** The analysis of `sql`, if cached. */
  analysis(sql: string): A | undefined {
    const statement = this.#statements.get(sql)
    if (statement === undefined) return undefined
    this.#statementOrder.touch(statement)
    return statement.analysis
  }

  setAnalysis(sql: string, analysis: A): void {
    const old = this.#statements.get(sql)
    if (old) this.#dropStatement(old)
    const node: StatementNode<A, V> = { sql, analysis, bySchema: new Map(), prev: undefined, next: undefined }
    this.#statements.set(sql, node)
    this.#statementOrder.pushFront(node)
    while (this.#statements.size > this.statementCapacity && this.#statementOrder.tail) this.#dropStatement(this.#statementOrder.tail)
  }

  /** Caches `value` as the rewrite of `sql` for `schema`; ignored when the statement's analysis is no longer cached. */
  set(sql: string, schema: string, value: V): void {
    const statement = this.#statements.get(sql)
    if (statement === undefined) return
    const old = statement.bySchema.get(schema)
    if (old) this.#dropRewrite(old)
    const node: RewriteNode<V> = { schema, statement: statement as StatementNode<unknown, V>, value, prev: undefined, next: undefined }
    statement.bySchema.set(schema, node)
    this.#rewriteOrder.pushFront(node)
    this.#rewrites++
    while (this.#rewrites > this.rewriteCapacity && this.#rewriteOrder.tail) this.#dropRewrite(this.#rewriteOrder.tail)
  }

  #dropRewrite(node: RewriteNode<V>): void {
    this.#rewriteOrder.remove(node)
    node.statement.bySchema.delete(node.schema)
    this.#rewrites--
  }

  #dropStatement(statement: StatementNode<A, V>): void {
    for (const node of statement.bySchema.values()) {
      this.#rewriteOrder.remove(node)
      this.#rewrites--
    }
    statement.bySchema.clear()
    this.#statementOrder.remove(statement)
    this.#statements.delete(statement.sql)
  }
}
