import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LightMyRequestResponse } from 'fastify'
import { buildApp, type ServerOptions, type SwitchyardServer } from '../../src/index.js'

export const JWT_SECRET = 'test-shared-secret-with-enough-entropy-0123456789'
export const ADMIN = { email: 'admin@switchyard.test', password: 'correct-horse-battery', first_name: 'Ada', last_name: 'Admin' }

export interface TestServer {
  app: SwitchyardServer
  adminSession: string
  apiKey: string
  /** Every response body seen, to check no secret ever leaves the server. */
  bodies: string[]
  request(method: string, url: string, opts?: { payload?: unknown; session?: string; apiKey?: string; headers?: Record<string, string> }): Promise<LightMyRequestResponse>
  /** Creates a user with attributes and returns a session token for them. */
  user(email: string, attributes?: Record<string, string>, isSuperuser?: boolean): Promise<{ id: number; session: string }>
  close(): Promise<void>
}

/** Log lines a server wrote, captured through pino's `stream` option. */
export interface CapturedLog {
  readonly lines: string[]
  write(line: string): void
}

export function captureLog(): CapturedLog {
  const lines: string[] = []
  return { lines, write: (line: string) => void lines.push(line) }
}

/** A server on an in-memory store (or `databaseUrl`), set up with an admin and an API key. */
export async function startServer(options: Pick<ServerOptions, 'redisUrl' | 'sessionMaxAgeMinutes' | 'databaseUrl' | 'pgStatementCache'> & { log?: CapturedLog } = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sy-server-'))
  const { log, ...rest } = options
  const app = await buildApp({ inMemory: true, dataDir, jwtSecret: JWT_SECRET, allowEmbedded: true, logger: log ? { level: 'info', stream: log } : false, ...rest })
  const bodies: string[] = []
  const request: TestServer['request'] = async (method, url, opts = {}) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) }
    if (opts.session) headers['x-metabase-session'] = opts.session
    if (opts.apiKey) headers['x-api-key'] = opts.apiKey
    const res = await app.inject({ method: method as 'GET', url, headers, ...(opts.payload !== undefined ? { payload: opts.payload as object } : {}) })
    bodies.push(res.body)
    return res
  }
  const setup = await request('POST', '/api/setup', { payload: { token: null, user: ADMIN, prefs: { site_name: 'Test' } } })
  if (setup.statusCode !== 200) throw new Error(`setup failed: ${setup.body}`)
  const adminSession = setup.json<{ id: string }>().id
  const key = await request('POST', '/api/api-key', { session: adminSession, payload: { name: 'ci', group_id: 2 } })
  const apiKey = key.json<{ unmasked_key: string }>().unmasked_key
  return {
    app,
    adminSession,
    apiKey,
    bodies,
    request,
    async user(email, attributes = {}, isSuperuser = false) {
      const password = 'user-password-123'
      const created = await request('POST', '/api/user', { session: adminSession, payload: { email, password, first_name: email.split('@')[0], login_attributes: attributes, is_superuser: isSuperuser } })
      if (created.statusCode !== 200) throw new Error(`user failed: ${created.body}`)
      const login = await request('POST', '/api/session', { payload: { username: email, password } })
      return { id: created.json<{ id: number }>().id, session: login.json<{ id: string }>().id }
    },
    async close() {
      await app.close()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}
