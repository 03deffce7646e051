/**
 * Statements that never commit by themselves on MySQL/MariaDB: plain reads and row changes.
 * Everything else (DDL, TRUNCATE, GRANT, LOCK TABLES, CALL of a routine that may run DDL, ...)
 * is assumed to commit the transaction implicitly: a list of the safe ones cannot go stale
 * the way a list of committing ones would when the server adds a statement.
 */
const NO_IMPLICIT_COMMIT = new Set(['select', 'insert', 'update', 'delete', 'replace', 'with', 'values', 'table', 'show', 'describe', 'desc', 'explain', 'do'])

/** Leading whitespace, comments and parentheses before a statement's first keyword. */
const PREFIX = /^(?:\s+|\/\*[\s\S]*?\*\/|--[^\n]*(?:\n|$)|#[^\n]*(?:\n|$)|\()*/

/** Whether `sql` may commit the surrounding transaction by itself on an engine without transactional DDL. */
export function mayCommitImplicitly(sql: string): boolean {
  const rest = sql.replace(PREFIX, '')
  const keyword = /^[A-Za-z]+/.exec(rest)?.[0]?.toLowerCase()
  return keyword === undefined || !NO_IMPLICIT_COMMIT.has(keyword)
}

/**
 * Follows one non-transactional migration's statements to tell, when it fails, whether a
 * retry is safe. On MySQL a DDL statement commits what came before it and itself, so once one
 * has run (or one failed after earlier statements succeeded: the implicit commit happens
 * before the DDL executes) the rollback of the migration's transaction undoes nothing of it.
 */
export class CommitTracker {
  #succeeded = false
  #committed = false

  /** Whether part of the migration may be committed although it failed. */
  get committed(): boolean {
    return this.#committed
  }

  async track<T>(sql: string, run: () => Promise<T>): Promise<T> {
    const commits = mayCommitImplicitly(sql)
    try {
      const result = await run()
      this.#succeeded = true
      if (commits) this.#committed = true
      return result
    } catch (err) {
      if (commits && this.#succeeded) this.#committed = true
      throw err
    }
  }
}
