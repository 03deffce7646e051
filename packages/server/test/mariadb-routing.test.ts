import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTempMysqlDatabase, serviceAvailable, type TempDatabase } from '../../../test-support/services.js'
import { startServer, type TestServer } from './support/server.js'

const ok = await serviceAvailable('mysql')

describe.skipIf(!ok)('database routing with a MariaDB router and MariaDB destinations', () => {
  let s: TestServer
  const dbs = new Map<string, TempDatabase>()
  const details = (d: TempDatabase) => ({ host: d.host, port: d.port, dbname: d.name, user: d.user, ssl: false })

  beforeAll(async () => {
    for (const name of ['router', 'acme', 'globex']) {
      const d = await createTempMysqlDatabase(`sy_my_${name}`)
      const c = await mysql.createConnection({ host: d.host, port: d.port, user: d.user, database: d.name })
      await c.query('create table orders (id int primary key, tenant varchar(20) not null)')
      await c.query('insert into orders values (1, ?), (2, ?)', [name, name])
      await c.end()
      dbs.set(name, d)
    }
    s = await startServer()
  }, 60_000)
  afterAll(async () => {
    await s?.close()
    await Promise.all([...dbs.values()].map((d) => d.drop()))
  })

  it('routes a question with a ? placeholder to each tenant database', async () => {
    const router = await s.request('POST', '/api/database', { apiKey: s.apiKey, payload: { engine: 'mysql', name: 'Router', details: details(dbs.get('router')!) } })
    expect(router.statusCode).toBe(200)
    const routerId = router.json<{ id: number }>().id
    await s.request('PUT', `/api/ee/database-routing/router-database/${routerId}`, { apiKey: s.apiKey, payload: { user_attribute: 'customer' } })
    const mirrors = await s.request('POST', '/api/ee/database-routing/mirror-database?check_connection_details=true', {
      apiKey: s.apiKey,
      payload: { router_database_id: routerId, mirrors: ['acme', 'globex'].map((n) => ({ name: n, engine: 'mysql', details: details(dbs.get(n)!) })) },
    })
    expect(mirrors.statusCode).toBe(200)
    const card = await s.request('POST', '/api/card', {
      apiKey: s.apiKey,
      payload: { name: 'o', dataset_query: { database: routerId, type: 'native', native: { query: 'select tenant, id from orders where id = {{id}}', 'template-tags': { id: { type: 'number' } } } } },
    })
    const cardId = card.json<{ id: number }>().id
    const param = [{ target: ['variable', ['template-tag', 'id']], value: 2 }]
    for (const tenant of ['acme', 'globex']) {
      const u = await s.user(`${tenant}@my.test`, { customer: tenant })
      const res = await s.request('POST', `/api/card/${cardId}/query`, { session: u.session, payload: { parameters: param } })
      expect(res.json()).toMatchObject({ status: 'completed', data: { rows: [[tenant, 2]] } })
      expect(res.json().data.cols[0].base_type).toBe('type/Text')
    }
    const admin = await s.request('POST', `/api/card/${cardId}/query`, { session: s.adminSession, payload: { parameters: param } })
    expect(admin.json().data.rows).toEqual([['router', 2]])
  })
})
