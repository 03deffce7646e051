/**
 * Metabase native-query templates: `{{tag}}` variables and `[[ ... ]]` optional clauses.
 *
 * The one rule that matters: a value never becomes SQL text. Every `{{tag}}` turns into a
 * driver placeholder (`$n` or `?`) and its value goes into `params`, so a value such as
 * `x'; drop table t; --` is data however it is spelled.
 *
 * Parsing follows Metabase's own parser (metabase.driver.common.parameters.parse):
 * - `{{ tag }}` with surrounding whitespace is the tag `tag`; `{{{x}}}` is `{` + `{{x}}` + `}`.
 * - Outside optional clauses, `-- ...` line comments and `/* ... *\/` block comments are
 *   left alone, tags and brackets in them included (a commented-out filter binds nothing).
 *   Inside `[[ ... ]]` there is no comment handling, as in Metabase.
 * - String literals are NOT recognised, as in Metabase: `'{{x}}'` becomes `'$1'`, which the
 *   database reads as the text `$1` and then complains about an unused parameter. Write
 *   `'%' || {{x}} || '%'` (or `concat('%', {{x}}, '%')`) instead. Equally, a `--` inside a
 *   string literal starts a "comment" for this parser, exactly as it does for Metabase.
 * - A `]]` or `}}` with no opener is plain text (array subscripts like `a[b[1]]` survive).
 * - Unlike Metabase, optional clauses cannot nest: a `[[` inside `[[ ... ]]` is an error.
 */

/** A template tag as stored in a native question's `template-tags`, keyed by its name. */
export interface TemplateTag {
  name: string
  type: 'text' | 'number' | 'date'
  'display-name'?: string
  /** Metabase's "Always require a value": no value and no default is an error even inside `[[ ]]`. */
  required?: boolean
  /** Used when no parameter (or a null / empty-list one) targets the tag. */
  default?: unknown
  id?: string
}

/** A parameter value aimed at a template tag, as Metabase's clients send it. */
export interface CardParameter {
  type?: string
  target: ['variable', ['template-tag', string]] | unknown
  value: unknown
  id?: string
}

/**
 * A parameter or template the query cannot run with; always the caller's fault, so 400.
 * `tag` names the template tag concerned when there is one.
 *
 * @example
 * ```ts
 * import { compileNativeQuery, QuestionParameterError } from './template.js'
 * try {
 *   compileNativeQuery('select {{id}}', { id: { name: 'id', type: 'number' } }, [], 'numbered')
 * } catch (err) {
 *   if (err instanceof QuestionParameterError) console.log(err.statusCode, err.tag, err.message)
 *   // 400 'id' 'Missing required parameter "id": ...'
 * }
 * ```
 */
export class QuestionParameterError extends Error {
  readonly statusCode = 400
  readonly tag: string | undefined

  constructor(message: string, options: { tag?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'QuestionParameterError'
    this.tag = options.tag
  }
}

// PostgreSQL's bind message counts parameters in an unsigned 16-bit field; past it the
// driver sends a message the server rejects, so refuse with a clear message first.
const MAX_PLACEHOLDERS = 65_535

type Piece = { kind: 'text'; text: string } | { kind: 'tag'; name: string }
type Node = Piece | { kind: 'optional'; pieces: Piece[] }

interface ParsedTemplate {
  readonly nodes: readonly Node[]
  readonly used: ReadonlySet<string>
}

// A saved question runs the same text every time: parse it once. Bounded, oldest out first;
// only templates that parse are kept, so a bad one fails the same way every time.
const parsedTemplates = new Map<string, ParsedTemplate>()
const MAX_PARSED_TEMPLATES = 1000

function parsedTemplate(query: string): ParsedTemplate {
  let parsed = parsedTemplates.get(query)
  if (parsed) return parsed
  const nodes = parse(query)
  const used = new Set<string>()
  for (const node of nodes) {
    if (node.kind === 'tag') used.add(node.name)
    else if (node.kind === 'optional') for (const p of node.pieces) if (p.kind === 'tag') used.add(p.name)
  }
  parsed = { nodes, used }
  if (parsedTemplates.size >= MAX_PARSED_TEMPLATES) parsedTemplates.delete(parsedTemplates.keys().next().value!)
  parsedTemplates.set(query, parsed)
  return parsed
}

function fail(message: string, tag?: string, cause?: unknown): never {
  throw new QuestionParameterError(message, { ...(tag !== undefined ? { tag } : {}), cause })
}

/** `{{` opens a tag unless another `{` follows (Metabase: the last two of a run of braces). */
function opensTag(s: string, i: number): boolean {
  return s.startsWith('{{', i) && s[i + 2] !== '{'
}

/** Reads `{{ name }}` starting at `i` (which points at `{{`); returns the name and the index after `}}`. */
function readTag(s: string, i: number): { name: string; end: number } {
  const close = s.indexOf('}}', i + 2)
  if (close < 0) fail(`Invalid query: "{{" at offset ${i} has no matching "}}"`)
  const inner = s.slice(i + 2, close)
  if (inner.includes('{{') || inner.includes('[[') || inner.includes(']]')) {
    fail(`Invalid query: "{{${inner}}}" is not a template tag name`)
  }
  const name = inner.trim()
  if (name === '') fail('Invalid query: "{{}}" clauses cannot be empty')
  return { name, end: close + 2 }
}

/** Splits a query into text, tags and optional clauses (see the module comment for the rules). */
function parse(query: string): Node[] {
  const nodes: Node[] = []
  let text = ''
  const flush = (into: Node[] | Piece[]): void => {
    if (text) (into as Piece[]).push({ kind: 'text', text })
    text = ''
  }
  let i = 0
  while (i < query.length) {
    if (query.startsWith('--', i) || query.startsWith('/*', i)) {
      // Comments pass through verbatim, up to and including their terminator.
      const line = query.startsWith('--', i)
      const end = line ? query.indexOf('\n', i) : query.indexOf('*/', i + 2)
      const stop = end < 0 ? query.length : end + (line ? 1 : 2)
      text += query.slice(i, stop)
      i = stop
    } else if (opensTag(query, i)) {
      const { name, end } = readTag(query, i)
      flush(nodes)
      nodes.push({ kind: 'tag', name })
      i = end
    } else if (query.startsWith('[[', i)) {
      flush(nodes)
      const start = i
      const pieces: Piece[] = []
      i += 2
      for (;;) {
        if (i >= query.length) fail(`Invalid query: optional clause "[[" at offset ${start} has no matching "]]"`)
        if (query.startsWith(']]', i)) break
        if (query.startsWith('[[', i)) fail(`Invalid query: optional clauses "[[ ... ]]" cannot be nested (offset ${i})`)
        if (opensTag(query, i)) {
          const { name, end } = readTag(query, i)
          flush(pieces)
          pieces.push({ kind: 'tag', name })
          i = end
        } else {
          text += query[i]
          i++
        }
      }
      flush(pieces)
      i += 2
      if (!pieces.some((p) => p.kind === 'tag')) {
        fail(`Invalid query: the optional clause "${query.slice(start, i)}" must contain at least one {{tag}}`)
      }
      nodes.push({ kind: 'optional', pieces })
    } else {
      text += query[i]
      i++
    }
  }
  flush(nodes)
  return nodes
}

/** Short, safe rendering of a client value for an error message. */
function show(value: unknown): string {
  let s: string
  try {
    s = typeof value === 'bigint' ? `${value}n` : (JSON.stringify(value) ?? String(value))
  } catch {
    s = String(value)
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s
}

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/
const DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-](\d{2}):(\d{2}))?)?$/

function validDate(s: string): boolean {
  const m = DATE.exec(s)
  if (!m) return false
  const [, y, mo, d, h, mi, sec, zone, zh, zm] = m
  const year = Number(y)
  const month = Number(mo)
  const day = Number(d)
  // Day 0 of the next month is the last day of this one; Date.UTC handles leap years.
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate()
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) return false
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || (sec !== undefined && Number(sec) > 59))) return false
  if (zone !== undefined && zone !== 'Z' && (Number(zh) > 23 || Number(zm) > 59)) return false
  return true
}

/** One scalar value, checked and converted for the tag's type. */
function coerceOne(name: string, type: TemplateTag['type'], value: unknown): string | number {
  switch (type) {
    case 'number': {
      let n = Number.NaN
      if (typeof value === 'number') n = value
      else if (typeof value === 'string' && NUMBER.test(value.trim())) n = Number(value.trim())
      if (!Number.isFinite(n)) fail(`Parameter "${name}" must be a number, got ${show(value)}`, name)
      // An integer past 2^53 has already lost digits: binding it would match the wrong row.
      if (Number.isInteger(n) && !Number.isSafeInteger(n)) fail(`Parameter "${name}" is an integer too large to bind exactly: ${show(value)}`, name)
      return n
    }
    case 'date':
      // Bound as given: PostgreSQL and MySQL both read ISO strings into date/timestamp columns.
      if (typeof value !== 'string' || !validDate(value)) {
        fail(`Parameter "${name}" must be a date, YYYY-MM-DD or an ISO timestamp such as 2024-01-31T12:00:00Z, got ${show(value)}`, name)
      }
      return value
    case 'text':
      if (typeof value === 'string') return value
      if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean') return String(value)
      return fail(`Parameter "${name}" must be text, got ${show(value)}`, name)
  }
}

/**
 * A tag's value as a list of scalars to bind. A one-element list is a single value (newer
 * Metabase clients send `[100]`); a longer list of text or numbers binds one placeholder
 * per element, comma-separated, for `in ({{ids}})`.
 */
function coerce(name: string, type: TemplateTag['type'], value: unknown): (string | number)[] {
  if (!Array.isArray(value)) return [coerceOne(name, type, value)]
  if (value.length > 1 && type === 'date') fail(`Parameter "${name}" is a date and takes a single value, got ${value.length}`, name)
  return value.map((v: unknown, i) => {
    if (Array.isArray(v)) fail(`Parameter "${name}" takes a flat list of values, got a nested list`, name)
    try {
      return coerceOne(name, type, v)
    } catch (err) {
      if (value.length === 1 || !(err instanceof QuestionParameterError)) throw err
      return fail(`Parameter "${name}", value ${i + 1} of ${value.length}: ${err.message}`, name, err)
    }
  })
}

const INT4_MIN = -(2 ** 31)
const INT4_MAX = 2 ** 31 - 1

/**
 * The type PostgreSQL gives the literal Metabase would have written for this value. An untyped
 * `$n` takes its type from the SQL around it: `id <= $1` reads 2.5 as an integer and fails,
 * `$1 + interval '1 day'` reads a date as an interval, `select $1` answers text. The casts
 * restore literal semantics (an integer is int4, int8 past int4's range, a fraction numeric;
 * a date is a date, with a time a timestamp, with a zone a timestamptz) while the value stays
 * bound. Text stays untyped, as a quoted literal is. int4 for integers keeps `id = $1::int4`
 * on an int or bigint column's index; numeric would not.
 */
function pgCast(type: TemplateTag['type'], v: string | number): string {
  if (type === 'number') return !Number.isInteger(v) ? '::numeric' : (v as number) >= INT4_MIN && (v as number) <= INT4_MAX ? '::int4' : '::int8'
  if (type === 'date') return typeof v !== 'string' || v.length === 10 ? '::date' : /(?:Z|[+-]\d{2}:\d{2})$/.test(v) ? '::timestamptz' : '::timestamp'
  return ''
}

/** null, undefined and [] mean "no value", as in Metabase. */
function hasValue(v: unknown): boolean {
  return v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)
}

function targetTag(target: unknown): string {
  if (Array.isArray(target) && Array.isArray(target[1]) && target[1][0] === 'template-tag' && typeof target[1][1] === 'string') {
    if (target[0] === 'variable') return target[1][1]
    if (target[0] === 'dimension') fail(`Parameter for template tag "${target[1][1]}" is a field filter (["dimension", ...]); only text, number and date variables are supported`, target[1][1])
  }
  return fail(`Unsupported parameter target ${show(target)}: expected ["variable", ["template-tag", "<name>"]]`)
}

/**
 * Compiles a native question into SQL with driver placeholders and the values to bind.
 *
 * - Every `{{tag}}` occurrence gets its own placeholder, numbered by order of appearance
 *   (`$1`, `$2`, ... for `'numbered'`, `?` for `'question'`), and its value goes into `params`.
 *   A tag used twice binds twice, so each use can take its own type in PostgreSQL.
 *   With `'numbered'` (PostgreSQL, PGlite) a number or date placeholder carries the type its
 *   literal would have (`$1::int4`, `$1::numeric`, `$1::date`, `$1::timestamptz`); text stays
 *   untyped, as a quoted literal is.
 * - A `[[ ... ]]` clause drops out entirely when any tag in it has no value (no parameter
 *   and no default); otherwise its text is kept without the brackets.
 * - Errors ({@link QuestionParameterError}, naming the tag): a `{{tag}}` outside `[[ ]]` or a
 *   `required` tag with no value; a `{{tag}}` with no `template-tags` entry; a parameter
 *   aimed at a tag that is not defined or not used in the query; a value of the wrong type;
 *   more than one parameter for a tag; malformed or nested brackets.
 * - Values: number → finite JS number (numeric strings accepted); date → the ISO string as
 *   given (`YYYY-MM-DD` or `YYYY-MM-DDTHH:mm[:ss[.fff]][Z|±HH:MM]`, calendar-checked);
 *   text → string. A list of several text/number values binds `$1, $2, ...` (write the
 *   parentheses yourself: `id in ({{ids}})`).
 *
 * @example
 * ```ts
 * import { compileNativeQuery } from './template.js'
 * const tags = { min: { name: 'min', type: 'number' }, tenant: { name: 'tenant', type: 'text' } } as const
 * compileNativeQuery(
 *   'select * from orders where tenant = {{ tenant }} [[and total > {{min}}]]',
 *   tags,
 *   [{ type: 'category', target: ['variable', ['template-tag', 'tenant']], value: 'acme' }],
 *   'numbered',
 * )
 * // → { sql: 'select * from orders where tenant = $1 ', params: ['acme'] }
 * ```
 */
export function compileNativeQuery(
  query: string,
  templateTags: Readonly<Record<string, TemplateTag>>,
  parameters: readonly CardParameter[],
  placeholders: 'numbered' | 'question',
): { sql: string; params: unknown[] } {
  const { nodes, used } = parsedTemplate(query)
  // Object.hasOwn: a tag called "constructor" or "__proto__" must not find Object.prototype.
  const defOf = (name: string): TemplateTag | undefined => (Object.hasOwn(templateTags, name) ? templateTags[name] : undefined)
  for (const name of used) {
    const def = defOf(name)
    if (!def || typeof def !== 'object') fail(`The query uses {{${name}}} but the question has no template tag "${name}"`, name)
    if (def.type !== 'text' && def.type !== 'number' && def.type !== 'date') {
      fail(`Template tag "${name}" has type ${show(def.type)}; supported types are text, number and date`, name)
    }
  }

  const given = new Map<string, unknown>()
  for (const p of parameters) {
    const name = targetTag(p.target)
    if (!defOf(name)) fail(`A parameter targets the template tag "${name}", which the question does not define`, name)
    // A value for a tag the SQL never reads would be silently ignored: a filter that looks
    // applied but is not. Refuse it instead.
    if (!used.has(name)) fail(`A parameter targets the template tag "${name}", which the query does not use`, name)
    if (!hasValue(p.value)) continue
    if (given.has(name)) fail(`More than one parameter targets the template tag "${name}"`, name)
    given.set(name, p.value)
  }

  const values = new Map<string, (string | number)[]>()
  for (const name of used) {
    const def = defOf(name)!
    const raw = given.has(name) ? given.get(name) : def.default
    if (hasValue(raw)) values.set(name, coerce(name, def.type, raw))
    else if (def.required) fail(`Missing required parameter "${name}": the template tag is required and has no default`, name)
  }

  const params: unknown[] = []
  const emit = (piece: Piece): string => {
    if (piece.kind === 'text') return piece.text
    const list = values.get(piece.name)
    if (!list) return fail(`Missing required parameter "${piece.name}": {{${piece.name}}} is outside an optional [[ ]] clause and has no value or default`, piece.name)
    const type = defOf(piece.name)!.type
    return list
      .map((v) => {
        params.push(v)
        return placeholders === 'numbered' ? `$${params.length}${pgCast(type, v)}` : '?'
      })
      .join(', ')
  }

  let sql = ''
  for (const node of nodes) {
    if (node.kind !== 'optional') sql += emit(node)
    else if (node.pieces.every((p) => p.kind === 'text' || values.has(p.name))) sql += node.pieces.map(emit).join('')
  }
  if (params.length > MAX_PLACEHOLDERS) fail(`The query binds ${params.length} values; the limit is ${MAX_PLACEHOLDERS}`)
  return { sql, params }
}
