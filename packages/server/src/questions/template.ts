import { badRequest, HttpError } from '../http/errors.js'

/** A Metabase native-query template tag. */
export interface TemplateTag {
  name?: string
  type: 'text' | 'number' | 'date' | string
  'display-name'?: string
  required?: boolean
  default?: unknown
  id?: string
}

/** A parameter value aimed at a template tag, as Metabase's clients send it. */
export interface CardParameter {
  type?: string
  target?: unknown
  value?: unknown
  id?: string
}

/** A parameter the query cannot use as given. */
export class QuestionParameterError extends HttpError {
  constructor(message: string) {
    super(400, message)
    this.name = 'QuestionParameterError'
  }
}

const TAG = /\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}/g

function tagOf(target: unknown): string | undefined {
  // ["variable", ["template-tag", "name"]]
  if (!Array.isArray(target) || target[0] !== 'variable') return undefined
  const inner = target[1]
  return Array.isArray(inner) && inner[0] === 'template-tag' && typeof inner[1] === 'string' ? inner[1] : undefined
}

function coerce(tag: string, type: string, value: unknown): unknown {
  if (Array.isArray(value)) {
    if (value.length !== 1) throw new QuestionParameterError(`Parameter "${tag}" takes a single value, got ${value.length}`)
    value = value[0]
  }
  switch (type) {
    case 'number': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN
      if (!Number.isFinite(n)) throw new QuestionParameterError(`Parameter "${tag}" must be a number, got ${JSON.stringify(value)}`)
      return n
    }
    case 'date': {
      if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) || Number.isNaN(Date.parse(value))) {
        throw new QuestionParameterError(`Parameter "${tag}" must be a date (YYYY-MM-DD), got ${JSON.stringify(value)}`)
      }
      return value
    }
    case 'text':
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        throw new QuestionParameterError(`Parameter "${tag}" must be text, got ${JSON.stringify(value)}`)
      }
      return String(value)
    default:
      throw new QuestionParameterError(`Template tag "${tag}" has type ${JSON.stringify(type)}; supported: text, number, date`)
  }
}

/**
 * Compiles a native question: every `{{tag}}` becomes a driver placeholder (`$n` or `?`)
 * bound to its value — values are never spliced into SQL — and each `[[ ... ]]` optional
 * clause drops out when a tag inside it has no value. A tag outside an optional clause with
 * no value and no default is an error naming it.
 *
 * @example
 * ```ts
 * compileNativeQuery('select * from orders where 1=1 [[and total > {{min}}]]', { min: { type: 'number' } },
 *   [{ target: ['variable', ['template-tag', 'min']], value: 10 }], 'numbered')
 * // { sql: 'select * from orders where 1=1 and total > $1', params: [10] }
 * ```
 */
export function compileNativeQuery(
  query: string,
  templateTags: Readonly<Record<string, TemplateTag>>,
  parameters: readonly CardParameter[],
  placeholders: 'numbered' | 'question',
): { sql: string; params: unknown[] } {
  const values = new Map<string, unknown>()
  for (const p of parameters) {
    const tag = tagOf(p.target)
    if (!tag) throw badRequest(`Unsupported parameter target ${JSON.stringify(p.target)}: expected ["variable", ["template-tag", "<name>"]]`)
    if (!Object.hasOwn(templateTags, tag)) throw new QuestionParameterError(`Parameter targets unknown template tag "${tag}"`)
    if (p.value !== undefined && p.value !== null) values.set(tag, p.value)
  }
  for (const [name, def] of Object.entries(templateTags)) {
    if (!values.has(name) && def.default !== undefined && def.default !== null) values.set(name, def.default)
  }

  const params: unknown[] = []
  const bind = (segment: string): string =>
    segment.replace(TAG, (_m, name: string) => {
      const def = templateTags[name]
      if (!def) throw new QuestionParameterError(`The query uses {{${name}}} but the question has no template tag "${name}"`)
      if (!values.has(name)) throw new QuestionParameterError(`Missing required parameter "${name}"`)
      params.push(coerce(name, def.type, values.get(name)))
      return placeholders === 'numbered' ? `$${params.length}` : '?'
    })

  let sql = ''
  let rest = query
  for (;;) {
    const open = rest.indexOf('[[')
    if (open < 0) break
    const close = rest.indexOf(']]', open + 2)
    if (close < 0) throw badRequest('Unbalanced [[ in the query: an optional clause is not closed with ]]')
    const clause = rest.slice(open + 2, close)
    if (clause.includes('[[')) throw badRequest('Optional clauses [[ ... ]] cannot be nested')
    sql += bind(rest.slice(0, open))
    const tags = [...clause.matchAll(TAG)].map((m) => m[1]!)
    // Metabase drops a clause when any tag inside it has no value.
    if (tags.length > 0 && tags.every((t) => values.has(t))) sql += bind(clause)
    rest = rest.slice(close + 2)
  }
  if (rest.includes(']]')) throw badRequest('Unbalanced ]] in the query')
  sql += bind(rest)
  return { sql, params }
}
