// The HTTP floor: the least a Node HTTP server can do for this request — Fastify parsing the
// same JSON body and one pg.Pool running the same point query, prepared once per connection as
// the server does, answered in the same shape —
// with no sign-in, routing, template, run record or cache. What the server costs above this
// line is Switchyard's; what this costs above the bare pool is HTTP and one more process hop.
// Same IPC protocol as serve.mjs.
import Fastify from 'fastify'
import pg from 'pg'

const { details } = JSON.parse(process.argv[2])
const d = details[1]
const pool = new pg.Pool({ host: d.host, port: d.port, user: d.user, database: d.dbname, max: 10 })
const app = Fastify({ logger: false })
app.post('/api/card/:id/query', async (req) => {
  const started = performance.now()
  const startedAt = new Date().toISOString()
  const res = await pool.query({ name: 'point', text: 'select id, name, qty from items where id = $1', values: [req.body.parameters[0].value], rowMode: 'array' })
  const cols = res.fields.map((f) => ({ name: f.name, display_name: f.name, base_type: f.dataTypeID === 25 ? 'type/Text' : 'type/Integer' }))
  return { status: 'completed', database_id: 1, started_at: startedAt, running_time: Math.round(performance.now() - started), card_id: Number(req.params.id), row_count: res.rows.length, cached: false, data: { cols, rows: res.rows } }
})
const address = await app.listen({ host: '127.0.0.1', port: 0 })
process.on('message', async (m) => {
  if (m.cpu) process.send({ cpu: process.cpuUsage() })
  if (m.close) {
    await app.close()
    await pool.end()
    process.exit(0)
  }
})
process.send({ address, cardId: 1 })
