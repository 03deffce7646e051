// The load generator, in one long-lived process so its own JIT warm-up happens once, in the
// warm-up run, and not at the start of every measured round. Two modes, on command:
// - { ms, connections }: autocannon, closed loop, as fast as the server answers. Latencies
//   come from its per-response event, which has the hrtime-based float (its own histogram
//   keeps whole milliseconds).
// - { ms, connections, rate }: a fixed offered load, paced evenly by runPaced, the pacing the
//   bare pool gets in the parent. (autocannon's own rate limit lets each connection burst its
//   whole per-second quota at once, which is saturation in bursts, not a steady load.) Requests
//   go through node:http on keep-alive connections.
import autocannon from 'autocannon'
import http from 'node:http'
import { percentile, runPaced } from '../lib/measure.mjs'

const { url, headers, body } = JSON.parse(process.argv[2])

function saturate(ms, connections) {
  return new Promise((resolve, reject) => {
    const latencies = []
    const tracker = autocannon({ url, connections, duration: ms / 1000, method: 'POST', headers, body }, (err, r) => {
      if (err) return reject(err)
      const sorted = Float64Array.from(latencies).sort()
      resolve({ total: r.requests.total, duration: r.duration, p50: percentile(sorted, 50), p99: percentile(sorted, 99), errors: r.errors, non2xx: r.non2xx })
    })
    tracker.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode < 300) latencies.push(responseTime)
    })
  })
}

// One keep-alive agent for every paced run: its sockets, once open, stay open, as autocannon's do.
const agents = new Map()

async function paced(ms, connections, rate) {
  if (!agents.has(connections)) agents.set(connections, new http.Agent({ keepAlive: true, maxSockets: connections }))
  const agent = agents.get(connections)
  const target = new URL(url)
  const payload = Buffer.from(body)
  const options = { agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { ...headers, 'content-length': payload.length } }
  let errors = 0
  let non2xx = 0
  const once = () =>
    new Promise((resolve) => {
      const req = http.request(options, (res) => {
        if (res.statusCode >= 300) non2xx++
        res.on('data', () => {})
        res.on('end', resolve)
      })
      req.on('error', () => {
        errors++
        resolve()
      })
      req.end(payload)
    })
  const { latencies } = await runPaced(once, { clients: connections, ms, rate, nextArg: () => undefined })
  const sorted = Float64Array.from(latencies).sort()
  return { total: sorted.length, duration: ms / 1000, p50: percentile(sorted, 50), p99: percentile(sorted, 99), errors, non2xx }
}

process.on('message', async (m) => {
  if (m.exit) process.exit(0)
  try {
    process.send(m.rate ? await paced(m.ms, m.connections, m.rate) : await saturate(m.ms, m.connections))
  } catch (err) {
    process.send({ error: String(err) })
  }
})
process.send({ ready: true })
