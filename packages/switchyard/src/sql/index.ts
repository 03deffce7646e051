/**
 * `switchyard/sql`: the statement tools the router is built on, for callers that want to
 * classify, guard or schema-qualify statements themselves. All of them parse with
 * PostgreSQL's own grammar (libpg-query, WebAssembly): call {@link ensureParser} once first.
 *
 * @example
 * ```ts
 * import { analyzeStatement, classifyParsed, ensureParser, guardAnalyzed, qualifyAnalyzed } from 'switchyard/sql'
 *
 * await ensureParser()
 * classifyParsed('select * from orders')                                   // 'read'
 * classifyParsed('with gone as (delete from orders returning *) select 1') // 'write'
 *
 * const sql = 'select * from orders where id = $1'
 * const analysis = analyzeStatement(sql)
 * guardAnalyzed(analysis, 'tenant_acme', new Set(['shared'])) // passes; `select * from tenant_b.orders` would throw TenantIsolationError
 * qualifyAnalyzed(sql, analysis, 'tenant_acme')               // 'select * from "tenant_acme".orders where id = $1'
 * ```
 */
export { classifyParsed, StatementClassifier } from './classify.js'
export type { StatementKind } from './classify.js'
export { analyzeStatement } from './analyze.js'
export type { StatementAnalysis, TableSlot } from './analyze.js'
export type { ChangeTarget } from './change-targets.js'
export { CATALOG_SCHEMAS, guardAnalyzed } from './guard.js'
export type { SharedChangeOptions } from './guard.js'
export { qualifyAnalyzed, UnqualifiableStatementError } from './qualify.js'
export { ensureParser, parserReady, parsePostgres } from './parser.js'
export { analyzeMysqlStatement, ensureMysqlParser, guardMysqlAnalyzed, UnverifiableStatementError } from './mysql-guard.js'
export type { MysqlAnalysis } from './mysql-guard.js'
