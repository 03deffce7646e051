// The load generator: autocannon in one long-lived process, so its own JIT warm-up happens once,
// in the warm-up run, and not at the start of every measured round. Runs { ms, connections } on
// command and answers with throughput and exact percentiles: autocannon's own histogram keeps
// whole milliseconds, so latencies are taken from its per-response event, which has the
// hrtime-based float.
import autocannon from 'autocannon'

const { url, headers, body } = JSON.parse(process.argv[2])

function run(ms, connections) {
  return new Promise((resolve, reject) => {
    const latencies = []
    const tracker = autocannon({ url, connections, duration: ms / 1000, method: 'POST', headers, body }, (err, r) => {
      if (err) return reject(err)
      const sorted = Float64Array.from(latencies).sort()
      const at = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
      resolve({ total: r.requests.total, duration: r.duration, p50: at(50), p99: at(99), latencies: sorted.length, errors: r.errors, non2xx: r.non2xx })
    })
    tracker.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode < 300) latencies.push(responseTime)
    })
  })
}

process.on('message', async (m) => {
  if (m.exit) process.exit(0)
  try {
    process.send(await run(m.ms, m.connections))
  } catch (err) {
    process.send({ error: String(err) })
  }
})
process.send({ ready: true })
