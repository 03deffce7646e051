import { SwitchyardError } from 'switchyard'
import type { SwitchyardServer } from './app.js'
import type { DatabaseRow } from './databases/pools.js'

export const DEMO_ADMIN = { email: 'admin@switchyard.local', password: 'switchyard-demo' }
export const DEMO_TENANTS = ['acme', 'globex', 'initech'] as const

const PRODUCTS: Record<string, [string, number][]> = {
  sample: [['Sample widget', 1]],
  acme: [['Rocket skates', 120], ['Giant magnet', 75], ['Portable hole', 300]],
  globex: [['Doomsday device', 9999], ['Hammock', 40]],
  initech: [['TPS report cover', 3], ['Red stapler', 12], ['Printer', 250], ['Coffee', 4]],
}

async function call(app: SwitchyardServer, method: string, url: string, payload: unknown, headers: Record<string, string>): Promise<Record<string, unknown>> {
  const res = await app.inject({ method: method as 'POST', url, payload: payload as object, headers })
  if (res.statusCode >= 300) throw new Error(`demo seed: ${method} ${url} answered ${res.statusCode}: ${res.body}`)
  return res.body ? (res.json() as Record<string, unknown>) : {}
}

export const DEMO_CARD = 'Products under a price'

/** The demo data directory holds something other than a finished demo (an interrupted seed, or another server's data). */
export class DemoIncompleteError extends SwitchyardError {
  constructor(readonly missing: readonly string[]) {
    super('DEMO_INCOMPLETE', `The demo data directory is not a complete demo (missing: ${missing.join(', ')}); an earlier seed may have stopped midway. Remove the directory (or pass another --data-dir) and run the demo again.`)
    this.name = 'DemoIncompleteError'
  }
}

/** What a finished seed left behind that is missing from the store (the question is written last). */
async function missingDemoParts(app: SwitchyardServer): Promise<string[]> {
  const store = app.switchyard.store
  const missing: string[] = []
  const emails = [DEMO_ADMIN.email, ...DEMO_TENANTS.map((t) => `${t}@switchyard.local`)]
  const { rows: users } = await store.query<{ email: string }>('select lower(email) as email from users where lower(email) = any($1::text[])', [emails])
  const have = new Set(users.map((u) => u.email))
  for (const e of emails) if (!have.has(e)) missing.push(`user ${e}`)
  const { rows: routers } = await store.query<{ id: number }>(`select id from databases where name = 'Sample' and router_database_id is null and router_user_attribute = 'tenant'`)
  const router = routers[0]
  if (!router) missing.push('router database Sample')
  else {
    const { rows: dests } = await store.query<{ name: string }>('select name from databases where router_database_id = $1', [router.id])
    const names = new Set(dests.map((d) => d.name))
    for (const t of DEMO_TENANTS) if (!names.has(t)) missing.push(`destination ${t}`)
  }
  const { rows: cards } = await store.query<{ id: number }>('select id from cards where name = $1', [DEMO_CARD])
  if (cards.length === 0) missing.push(`question "${DEMO_CARD}"`)
  return missing
}

export interface DemoInfo {
  apiKey: string
  cardId: number
  users: { email: string; password: string; tenant: string }[]
}

/**
 * Seeds the demo through the public API (so it exercises what a user would): an admin, an
 * API key, the router database `Sample`, destinations `acme`, `globex` and `initech` on
 * embedded PGlite with the same tables and different rows, one user per tenant, and a
 * question. Idempotent: a completely seeded data directory is reused as it is; one left
 * half-seeded (the process stopped midway) is refused with {@link DemoIncompleteError}
 * rather than served as if it worked.
 */
export async function seedDemo(app: SwitchyardServer): Promise<DemoInfo | undefined> {
  const store = app.switchyard.store
  const { rows } = await store.query<{ n: number }>('select count(*)::int as n from users')
  if ((rows[0]?.n ?? 0) > 0) {
    const missing = await missingDemoParts(app)
    if (missing.length > 0) throw new DemoIncompleteError(missing)
    return undefined
  }
  const setup = await call(app, 'POST', '/api/setup', { user: { ...DEMO_ADMIN, first_name: 'Demo', last_name: 'Admin' }, prefs: { site_name: 'Switchyard demo' } }, {})
  const admin = { 'x-metabase-session': String(setup.id) }
  const key = await call(app, 'POST', '/api/api-key', { name: 'demo', group_id: 2 }, admin)
  const auth = { 'x-api-key': String(key.unmasked_key) }
  const router = await call(app, 'POST', '/api/database', { engine: 'pglite', name: 'Sample', details: { 'data-dir': 'demo/sample' } }, auth)
  await call(app, 'PUT', `/api/ee/database-routing/router-database/${router.id}`, { user_attribute: 'tenant' }, auth)
  await call(app, 'POST', '/api/ee/database-routing/mirror-database?check_connection_details=true', {
    router_database_id: router.id,
    mirrors: DEMO_TENANTS.map((t) => ({ name: t, engine: 'pglite', details: { 'data-dir': `demo/${t}` } })),
  }, auth)
  const { rows: dbs } = await store.query<DatabaseRow>('select * from databases order by id')
  for (const db of dbs) {
    const pool = app.switchyard.pools.get(db)
    const tenant = db.router_database_id === null ? 'sample' : db.name
    await pool.query('create table if not exists products (id serial primary key, name text not null, price numeric(10,2) not null, tenant text not null)')
    for (const [name, price] of PRODUCTS[tenant] ?? []) await pool.query('insert into products (name, price, tenant) values ($1, $2, $3)', [name, price, tenant])
  }
  const users = []
  for (const tenant of DEMO_TENANTS) {
    const user = { email: `${tenant}@switchyard.local`, password: `${tenant}-demo-pass`, tenant }
    await call(app, 'POST', '/api/user', { email: user.email, password: user.password, first_name: tenant, login_attributes: { tenant } }, auth)
    users.push(user)
  }
  const card = await call(app, 'POST', '/api/card', {
    name: DEMO_CARD,
    dataset_query: {
      database: router.id,
      type: 'native',
      native: {
        query: 'select tenant, name, price from products where 1 = 1 [[and price <= {{max_price}}]] order by price',
        'template-tags': { max_price: { name: 'max_price', type: 'number', 'display-name': 'Max price' } },
      },
    },
  }, auth)
  return { apiKey: String(key.unmasked_key), cardId: Number(card.id), users }
}
