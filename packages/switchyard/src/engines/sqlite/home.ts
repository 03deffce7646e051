/**
 * In a schema-scoped transaction the SQLite pool opens a connection whose main database is
 * the tenant's file, so unqualified names resolve there as they would under a search path.
 * The pool's own database is attached to that connection under this name: code that must
 * write to it in the same transaction (the tenant manager's status row) qualifies with it.
 */
export const SQLITE_HOME_ALIAS = 'switchyard_home'
