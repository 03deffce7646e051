import { badRequest } from './errors.js'

/**
 * Where a request value holds a NUL character (U+0000), as a path like `body/login_attributes/t`,
 * or undefined when none does. PostgreSQL (and so PGlite) can store NUL neither in text nor in
 * jsonb, so such a value can only fail later as a store error that cannot say which field it was.
 *
 * @example
 * ```ts
 * nulPath({ name: 'x\u0000' }, 'body') // 'body/name'
 * nulPath({ name: 'x' }, 'body') // undefined
 * ```
 */
export function nulPath(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined
  if (value === null || typeof value !== 'object') return undefined
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = nulPath(value[i], `${path}/${i}`)
      if (found) return found
    }
    return undefined
  }
  for (const [k, v] of Object.entries(value)) {
    // A key is stored too (jsonb object keys): it names itself, escaped so the message stays readable.
    if (k.includes('\u0000')) return `${path}/${JSON.stringify(k).slice(1, -1)}`
    const found = nulPath(v, `${path}/${k}`)
    if (found) return found
  }
  return undefined
}

/** Refuses (400, naming the field) a request whose body or query string holds a NUL character. */
export function refuseNul(parts: { body?: unknown; query?: unknown }): void {
  const where = nulPath(parts.body, 'body') ?? nulPath(parts.query, 'querystring')
  if (!where) return
  const message = `${where} must not contain a NUL character (\\u0000).`
  throw badRequest(message, { message, errors: { [where]: 'contains a NUL character' } })
}
