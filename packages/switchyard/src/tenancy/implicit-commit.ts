import { QueryCancelledError } from '../errors.js'

/**
 * What one statement can leave behind in a migration that runs inside a transaction on
 * MySQL/MariaDB, where DDL is not transactional:
 * - `read`: nothing the rollback would have to undo (queries, SHOW, session `SET`);
 * - `write`: transactional changes, undone by the rollback unless a later statement commits them;
 * - `commit`: commits the open transaction and itself, atomically (single-object DDL on
 *   MariaDB 10.6+ / MySQL 8: when it fails, nothing of it is left);
 * - `commit-partial`: may commit, and a failure may still leave part of it done (DDL naming
 *   several objects, `CREATE OR REPLACE TABLE`, `CALL`, account management, and every
 *   statement this module does not recognise).
 *
 * Statements are read with a small lexer rather than a grammar: a grammar that does not know
 * a statement cannot say anything safe about it, whereas here anything unrecognised simply
 * falls to the most pessimistic class.
 */
export type StatementEffect = 'read' | 'write' | 'commit' | 'commit-partial'

const RANK: Record<StatementEffect, number> = { read: 0, write: 1, commit: 2, 'commit-partial': 3 }

function worst(a: StatementEffect, b: StatementEffect): StatementEffect {
  return RANK[a] >= RANK[b] ? a : b
}

interface Token {
  readonly kind: 'word' | 'quoted' | 'string' | 'punct'
  /** Lower case for words; the raw text otherwise. */
  readonly text: string
}

const WORD = /[0-9A-Za-z_$\u0080-\uffff]+/y

/**
 * Splits `sql` the way MySQL's lexer does (default sql_mode: backslash escapes, `"` quotes a
 * string), dropping comments. Undefined when the text hides code from this reading
 * (executable comments) or is cut off, so the caller assumes the worst.
 */
function tokenize(sql: string): Token[] | undefined {
  const tokens: Token[] = []
  const n = sql.length
  let i = 0
  while (i < n) {
    const c = sql[i]!
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') {
      i++
      continue
    }
    // MySQL starts a `--` comment only before whitespace or a control character; `1--1` is arithmetic.
    if (c === '#' || (c === '-' && sql[i + 1] === '-' && (i + 2 >= n || sql.charCodeAt(i + 2) <= 0x20))) {
      const end = sql.indexOf('\n', i)
      i = end === -1 ? n : end + 1
      continue
    }
    if (c === '/' && sql[i + 1] === '*') {
      // `/*! ... */` (and MariaDB's `/*M! ... */`) is code to the server: whatever it holds is unread here.
      const k = sql[i + 2]
      if (k === '!' || ((k === 'M' || k === 'm') && sql[i + 3] === '!')) return undefined
      const end = sql.indexOf('*/', i + 2)
      if (end === -1) return undefined
      i = end + 2
      continue
    }
    if (c === "'" || c === '"' || c === '`') {
      let j = i + 1
      for (; ; j++) {
        if (j >= n) return undefined
        const ch = sql[j]
        if (ch === '\\' && c !== '`') {
          j++
          continue
        }
        if (ch === c) {
          if (sql[j + 1] !== c) break
          j++
        }
      }
      tokens.push({ kind: c === '`' ? 'quoted' : 'string', text: sql.slice(i, j + 1) })
      i = j + 1
      continue
    }
    WORD.lastIndex = i
    const word = WORD.exec(sql)
    if (word !== null) {
      tokens.push({ kind: 'word', text: word[0].toLowerCase() })
      i += word[0].length
      continue
    }
    const two = sql.slice(i, i + 2)
    if (two === '@@' || two === ':=') {
      tokens.push({ kind: 'punct', text: two })
      i += 2
      continue
    }
    tokens.push({ kind: 'punct', text: c })
    i++
  }
  return tokens
}

function wordAt(tokens: readonly Token[], i: number): string | undefined {
  const t = tokens[i]
  return t?.kind === 'word' ? t.text : undefined
}

function isPunct(t: Token | undefined, text: string): boolean {
  return t?.kind === 'punct' && t.text === text
}

/** Splits at commas outside parentheses. */
function splitTopLevel(tokens: readonly Token[]): Token[][] {
  const parts: Token[][] = [[]]
  let depth = 0
  for (const t of tokens) {
    if (isPunct(t, '(')) depth++
    else if (isPunct(t, ')')) depth--
    else if (depth === 0 && isPunct(t, ',')) {
      parts.push([])
      continue
    }
    parts[parts.length - 1]!.push(t)
  }
  return parts
}

/**
 * Built-in functions without effects beyond the statement's result, and keywords that may
 * precede a parenthesis. Any other name called in a query may be a stored function, which can
 * write rows (it cannot commit): such a query counts as a write. A name missing here only
 * makes the classification more cautious.
 */
const PURE_CALLS: ReadonlySet<string> = new Set(
  (
    // aggregates and window functions
    'count sum avg min max group_concat json_arrayagg json_objectagg bit_and bit_or bit_xor std stddev stddev_pop stddev_samp ' +
    'var_pop var_samp variance any_value grouping row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value ' +
    'last_value nth_value median percentile_cont percentile_disc ' +
    // control flow
    'if ifnull nullif coalesce isnull greatest least ' +
    // strings
    'ascii bin bit_length char char_length character_length chr concat concat_ws elt export_set field find_in_set format ' +
    'from_base64 hex insert instr lcase left length locate lower lpad ltrim make_set mid octet_length oct ord position quote ' +
    'regexp_instr regexp_replace regexp_substr regexp_like repeat replace reverse right rpad rtrim soundex space strcmp substr ' +
    'substring substring_index to_base64 trim ucase unhex upper weight_string natural_sort_key sformat ' +
    // numbers
    'abs acos asin atan atan2 ceil ceiling conv cos cot crc32 degrees exp floor ln log log10 log2 mod pi pow power radians rand ' +
    'round sign sin sqrt tan truncate ' +
    // dates and times
    'adddate addtime convert_tz curdate current_date current_time current_timestamp curtime date date_add date_format date_sub ' +
    'datediff day dayname dayofmonth dayofweek dayofyear extract from_days from_unixtime get_format hour last_day localtime ' +
    'localtimestamp makedate maketime microsecond minute month monthname now period_add period_diff quarter sec_to_time second ' +
    'str_to_date subdate subtime sysdate time time_format time_to_sec timediff timestamp timestampadd timestampdiff to_days ' +
    'to_seconds unix_timestamp utc_date utc_time utc_timestamp week weekday weekofyear year yearweek ' +
    // session information, casts, JSON, hashing
    'charset coercibility collation connection_id current_role current_user database found_rows last_insert_id row_count schema ' +
    'session_user system_user user version cast convert json_array json_array_append json_array_insert json_compact ' +
    'json_contains json_contains_path json_depth json_detailed json_equals json_exists json_extract json_insert json_keys ' +
    'json_length json_loose json_merge json_merge_patch json_merge_preserve json_normalize json_object json_overlaps json_pretty ' +
    'json_query json_quote json_remove json_replace json_schema_valid json_search json_set json_table json_type json_unquote ' +
    'json_valid json_value inet_aton inet_ntoa inet6_aton inet6_ntoa is_ipv4 is_ipv6 uuid uuid_short uuid_to_bin bin_to_uuid ' +
    'md5 sha sha1 sha2 compress uncompress uncompressed_length default values name_const ' +
    // keywords before a parenthesis (subqueries, lists, casts' types, index hints, JSON_TABLE columns)
    'in exists any some all not and or xor as from join on using where having select union intersect except over by when then ' +
    'else case is like rlike regexp between value row lateral distinct with escape div interval limit offset partition window ' +
    'rows range index key for force ignore use of columns path nested match against straight_join natural cross inner outer ' +
    'varchar nchar binary varbinary decimal dec numeric float double real int integer signed unsigned datetime json bit character'
  ).split(' '),
)

/** Words that make a query lock or write (`FOR UPDATE`, `LOCK IN SHARE MODE`, `INTO @var`, a WITH ... UPDATE / DELETE). */
const WRITING_WORDS: ReadonlySet<string> = new Set(['into', 'update', 'delete', 'insert', 'replace', 'lock', 'share', 'analyze', 'call', 'handler', 'load'])

/** A query (or an expression in SET): `read` unless it locks, writes, or calls a function that might. */
function queryEffect(tokens: readonly Token[]): StatementEffect {
  let effect: StatementEffect = 'read'
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!
    if ((t.kind === 'word' || t.kind === 'quoted') && isPunct(tokens[i + 1], '(')) {
      // A qualified or quoted name called is a stored function, never a built-in one.
      if (t.kind === 'quoted' || isPunct(tokens[i - 1], '.') || !PURE_CALLS.has(t.text)) effect = 'write'
      continue
    }
    if (t.kind !== 'word') continue
    // The file outlives the rollback, and a rerun fails on it.
    if (t.text === 'outfile' || t.text === 'dumpfile') return 'commit'
    if (WRITING_WORDS.has(t.text)) effect = 'write'
  }
  return effect
}

const SCOPES: ReadonlySet<string> = new Set(['session', 'local', 'global', 'persist', 'persist_only'])

/**
 * `SET`: session and user variables change nothing a rollback would have to undo, except
 * `autocommit` (setting it commits the open transaction). Server-wide scopes outlive the
 * rollback, and `SET PASSWORD` / `SET DEFAULT ROLE` commit: all of those count as commits.
 */
function setEffect(tokens: readonly Token[]): StatementEffect {
  const head = wordAt(tokens, 1)
  if (head === 'statement') {
    // MariaDB's SET STATEMENT v = x [, ...] FOR <statement>: the variables last for that one statement.
    let depth = 0
    for (let i = 2; i < tokens.length; i++) {
      const t = tokens[i]!
      if (isPunct(t, '(')) depth++
      else if (isPunct(t, ')')) depth--
      else if (depth === 0 && wordAt(tokens, i) === 'for') return worst(queryEffect(tokens.slice(2, i)), classify(tokens.slice(i + 1)))
    }
    return 'commit-partial'
  }
  if (head === 'password' || (head === 'default' && wordAt(tokens, 2) === 'role')) return 'commit'
  if (head === 'role') return queryEffect(tokens.slice(2))
  let effect: StatementEffect = 'read'
  for (const item of splitTopLevel(tokens.slice(1))) effect = worst(effect, setItemEffect(item))
  return effect
}

function setItemEffect(item: readonly Token[]): StatementEffect {
  if (isPunct(item[0], '@')) return queryEffect(item.slice(1)) // a user variable
  let k = 0
  let scope: string | undefined
  if (isPunct(item[0], '@@')) {
    k = 1
    const w = wordAt(item, 1)
    if (w !== undefined && SCOPES.has(w) && isPunct(item[2], '.')) {
      scope = w
      k = 3
    }
  } else {
    const w = wordAt(item, 0)
    if (w !== undefined && SCOPES.has(w)) {
      scope = w
      k = 1
    }
  }
  if (scope === 'global' || scope === 'persist' || scope === 'persist_only') return 'commit'
  const name = wordAt(item, k)
  if (name === undefined) return 'commit-partial'
  if (k === 0 && (name === 'names' || name === 'charset' || (name === 'character' && wordAt(item, 1) === 'set'))) return queryEffect(item.slice(1))
  // Characteristics of the next transaction (inside one, the server refuses it).
  if (name === 'transaction' && !isPunct(item[0], '@@')) return queryEffect(item.slice(k + 1))
  let j = k + 1
  while (isPunct(item[j], '.') && wordAt(item, j + 1) !== undefined) j += 2 // structured variables: default.key_buffer_size
  if (!isPunct(item[j], '=') && !isPunct(item[j], ':=')) return 'commit-partial' // a SET form not known here
  if (name === 'autocommit') return 'commit'
  return queryEffect(item.slice(j + 1))
}

/** Object kinds that DDL names after its verb (and its modifiers: OR REPLACE, TEMPORARY, DEFINER = ..., ...). */
const OBJECT_KINDS: ReadonlySet<string> = new Set([
  'table', 'tables', 'index', 'view', 'trigger', 'procedure', 'function', 'event', 'sequence', 'database', 'schema', 'user', 'role',
  'server', 'tablespace', 'logfile', 'package', 'synonym',
])
/** Kinds whose CREATE / ALTER / DROP of one object is atomic on MariaDB 10.6+ and MySQL 8. */
const ATOMIC_CREATE: ReadonlySet<string> = new Set(['table', 'index', 'view', 'trigger', 'procedure', 'function', 'event', 'sequence'])
const ATOMIC_ALTER: ReadonlySet<string> = new Set(['table', 'view', 'sequence', 'procedure', 'function', 'event', 'database', 'schema'])
const ATOMIC_DROP: ReadonlySet<string> = new Set(['table', 'tables', 'view', 'index', 'trigger', 'procedure', 'function', 'event', 'sequence'])
/** Their bodies hold `;` inside the one statement. */
const ROUTINES: ReadonlySet<string> = new Set(['trigger', 'procedure', 'function', 'event', 'package'])

/** Words that may stand between a DDL verb and the kind of object it acts on. */
const HEAD_MODIFIERS: ReadonlySet<string> = new Set(['or', 'replace', 'temporary', 'unique', 'fulltext', 'spatial', 'online', 'offline', 'ignore', 'aggregate'])

/**
 * The kind of object a DDL statement acts on, read only from its head: a kind word further on
 * (a table in a subquery, say) must not make an unknown statement look like a known one.
 */
function objectKind(tokens: readonly Token[]): string | undefined {
  let i = 1
  while (i < tokens.length) {
    const w = wordAt(tokens, i)
    if (w === undefined) return undefined
    if (OBJECT_KINDS.has(w)) return w
    if (w === 'algorithm') i += isPunct(tokens[i + 1], '=') ? 3 : 2
    else if (w === 'sql' && wordAt(tokens, i + 1) === 'security') i += 3
    else if (w === 'definer') i = afterUser(tokens, i + (isPunct(tokens[i + 1], '=') ? 2 : 1))
    else if (HEAD_MODIFIERS.has(w)) i++
    else return undefined
  }
  return undefined
}

/** Skips an account name: `current_user[()]`, `name`, `'name'@'host'`, `name@127.0.0.1`. */
function afterUser(tokens: readonly Token[], i: number): number {
  if (wordAt(tokens, i) === 'current_user') return isPunct(tokens[i + 1], '(') && isPunct(tokens[i + 2], ')') ? i + 3 : i + 1
  i++
  if (isPunct(tokens[i], '@')) i += 2
  while (isPunct(tokens[i], '.')) i += 2
  return i
}

/**
 * DDL and everything else that commits. On MariaDB a statement naming several objects works
 * through them one by one: `DROP TABLE a, missing` drops `a`, then fails. `CREATE OR REPLACE
 * TABLE` drops the old table before creating the new one and leaves neither when the creation
 * fails. Those, and anything not recognised as one atomic DDL statement, are `commit-partial`.
 */
function ddlEffect(verb: string, tokens: readonly Token[], severalStatements: boolean): StatementEffect {
  const severalObjects = splitTopLevel(tokens).length > 1
  switch (verb) {
    case 'create': {
      const kind = objectKind(tokens)
      if (kind === undefined || !ATOMIC_CREATE.has(kind)) return 'commit-partial'
      if (severalStatements && !ROUTINES.has(kind)) return 'commit-partial'
      const orReplace = wordAt(tokens, 1) === 'or' && wordAt(tokens, 2) === 'replace'
      return orReplace && kind === 'table' ? 'commit-partial' : 'commit'
    }
    case 'alter': {
      const kind = objectKind(tokens)
      // Its commas separate clauses on the one table, which MariaDB applies or rolls back as a whole.
      return kind !== undefined && ATOMIC_ALTER.has(kind) && !severalStatements ? 'commit' : 'commit-partial'
    }
    case 'drop': {
      const kind = objectKind(tokens)
      return kind !== undefined && ATOMIC_DROP.has(kind) && !severalObjects && !severalStatements ? 'commit' : 'commit-partial'
    }
    case 'rename': {
      const kind = wordAt(tokens, 1)
      return (kind === 'table' || kind === 'tables') && !severalObjects && !severalStatements ? 'commit' : 'commit-partial'
    }
    case 'truncate':
      return !severalObjects && !severalStatements ? 'commit' : 'commit-partial'
    default:
      return 'commit-partial'
  }
}

const QUERIES: ReadonlySet<string> = new Set(['select', 'with', 'values', 'table', 'do', 'show', 'describe', 'desc', 'explain'])
const ROW_CHANGES: ReadonlySet<string> = new Set(['insert', 'update', 'delete', 'replace'])

function classify(tokens: readonly Token[]): StatementEffect {
  let start = 0
  while (isPunct(tokens[start], '(')) start++ // (SELECT ...) UNION (SELECT ...)
  const verb = wordAt(tokens, start)
  if (verb === undefined) return 'commit-partial'
  // With multi-statement texts allowed on a connection, a second statement could be anything.
  const semicolon = tokens.findIndex((t) => isPunct(t, ';'))
  const severalStatements = semicolon !== -1 && semicolon < tokens.length - 1
  if (QUERIES.has(verb)) return severalStatements ? 'commit-partial' : queryEffect(tokens.slice(start + 1))
  if (ROW_CHANGES.has(verb)) return severalStatements ? 'commit-partial' : 'write'
  if (verb === 'set') return severalStatements ? 'commit-partial' : setEffect(tokens)
  return ddlEffect(verb, tokens, severalStatements)
}

/** What `sql` can leave behind on an engine without transactional DDL; see {@link StatementEffect}. */
export function statementEffect(sql: string): StatementEffect {
  const tokens = tokenize(sql)
  return tokens === undefined ? 'commit-partial' : classify(tokens)
}

/** Whether `sql` may commit the surrounding transaction by itself on an engine without transactional DDL. */
export function mayCommitImplicitly(sql: string): boolean {
  const effect = statementEffect(sql)
  return effect === 'commit' || effect === 'commit-partial'
}

/**
 * Whether a failed statement may have run anyway: the connection broke (or was closed to
 * cancel it) before the server answered, so an atomic statement may have completed.
 */
function outcomeUnknown(err: unknown): boolean {
  let serverAnswered = false
  let e = err
  for (let depth = 0; depth < 8 && e !== null && typeof e === 'object'; depth++) {
    const { fatal, errno, sqlState } = e as { fatal?: unknown; errno?: unknown; sqlState?: unknown }
    if (fatal === true) return true
    if (typeof errno === 'number' && errno > 0 && typeof sqlState === 'string') serverAnswered = true
    e = (e as { cause?: unknown }).cause
  }
  return err instanceof QueryCancelledError && !serverAnswered
}

/**
 * Follows one non-transactional migration's statements to tell, when it fails, whether a
 * retry is safe. On MySQL a DDL statement commits what came before it and itself (the commit
 * of earlier work happens before the DDL runs, so even when it fails), after which the
 * migration's rollback undoes nothing of it. Earlier statements only matter when they can
 * have changed something: reads and session SETs leave nothing for that commit to keep.
 */
export class CommitTracker {
  /** A statement that may have changed rows succeeded since the last commit. */
  #uncommitted = false
  #committed = false

  /** Whether part of the migration may be committed although it failed. */
  get committed(): boolean {
    return this.#committed
  }

  async track<T>(sql: string, run: () => Promise<T>): Promise<T> {
    const effect = statementEffect(sql)
    try {
      const result = await run()
      if (effect === 'write') this.#uncommitted = true
      else if (effect !== 'read') this.#committed = true
      return result
    } catch (err) {
      if (effect === 'commit-partial' || (effect === 'commit' && (this.#uncommitted || outcomeUnknown(err)))) this.#committed = true
      throw err
    }
  }
}
