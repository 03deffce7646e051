// The server under test, in its own process as deployed: the baseline's garbage and JIT state
// stay in the parent. Seeds the router, its three destinations, a viewer and a card, listens,
// and reports its address over IPC; answers { cpu: true } with its CPU time, exits on { close: true }.
import { buildApp } from '../../packages/server/dist/index.js'

const { storeUrl, dataDir, details, destinations } = JSON.parse(process.argv[2])
const app = await buildApp({ databaseUrl: storeUrl, dataDir, logger: false })
const call = async (method, url, payload, headers = {}) => {
  const res = await app.inject({ method, url, payload, headers })
  if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`)
  return res.json()
}
const { id: session } = await call('POST', '/api/setup', { user: { email: 'bench@x.test', password: 'bench-password' } })
const auth = { 'x-metabase-session': session }
const router = await call('POST', '/api/database', { engine: 'postgres', name: 'Router', details: details[0] }, auth)
await call('PUT', `/api/ee/database-routing/router-database/${router.id}`, { user_attribute: 'tenant' }, auth)
await call('POST', '/api/ee/database-routing/mirror-database?check_connection_details=true', {
  router_database_id: router.id,
  mirrors: destinations.map((name, i) => ({ name, engine: 'postgres', details: details[i + 1] })),
}, auth)
await call('POST', '/api/user', { email: 'viewer@acme.test', password: 'viewer-password', login_attributes: { tenant: destinations[0] } }, auth)
const { id: viewer } = await call('POST', '/api/session', { username: 'viewer@acme.test', password: 'viewer-password' })
const card = await call('POST', '/api/card', {
  name: 'point',
  dataset_query: { database: router.id, type: 'native', native: { query: 'select id, name, qty from items where id = {{id}}', 'template-tags': { id: { type: 'number' } } } },
}, auth)
const address = await app.listen({ host: '127.0.0.1', port: 0 })
process.on('message', async (m) => {
  if (m.cpu) process.send({ cpu: process.cpuUsage() })
  if (m.close) {
    await app.close()
    process.exit(0)
  }
})
process.send({ address, viewer, cardId: card.id })
