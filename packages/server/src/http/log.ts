import type { FastifyRequest } from 'fastify'
import type { DestinationStream, LoggerOptions } from 'pino'

/** Query parameters whose values are credentials (an SSO token, above all) and never reach a log line. */
const SECRET_QUERY_KEY = /jwt|token|key|session|pass|secret|auth|code|sig/i
const REDACTED = '[REDACTED]'

/**
 * The request URL as it may be logged: credential-looking query values replaced.
 *
 * @example
 * ```ts
 * loggableUrl('/auth/sso?jwt=eyJ...&return_to=/q/1') // '/auth/sso?jwt=[REDACTED]&return_to=/q/1'
 * ```
 */
export function loggableUrl(url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url
  const parts = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      const key = eq < 0 ? pair : pair.slice(0, eq)
      let name = key
      try {
        name = decodeURIComponent(key.replace(/\+/g, ' '))
      } catch {
        // A malformed escape is still matched on its raw text.
      }
      return eq >= 0 && SECRET_QUERY_KEY.test(name) ? `${key}=${REDACTED}` : pair
    })
  return `${url.slice(0, q)}?${parts.join('&')}`
}

export interface LogOptions {
  readonly level?: string
  /** Where lines go (default stdout); tests pass a stream to read them. */
  readonly stream?: DestinationStream
}

/**
 * pino options for the server: requests are logged without their headers (cookies, X-Api-Key,
 * X-Metabase-Session never appear) and with credential query values redacted.
 */
export function loggerOptions(options: LogOptions): LoggerOptions & { stream?: DestinationStream } {
  return {
    level: options.level ?? 'info',
    ...(options.stream ? { stream: options.stream } : {}),
    serializers: {
      req: (req: FastifyRequest) => ({ method: req.method, url: loggableUrl(req.url), remoteAddress: req.ip }),
    },
    // A second line of defence, for anything that logs a raw request or reply object.
    redact: {
      paths: ['req.headers.cookie', 'req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers["x-metabase-session"]', 'res.headers["set-cookie"]', 'req.query.jwt'],
      censor: REDACTED,
    },
  }
}
