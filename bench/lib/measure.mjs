// Shared by the benchmarks: closed-loop clients, interleaved rounds, throughput and latency percentiles.
import { performance } from 'node:perf_hooks'

/** Runs `clients` closed loops of `op` for `ms` milliseconds; returns latencies (ms) and count. */
export async function runRound(op, { clients, ms, nextArg }) {
  const latencies = []
  const deadline = performance.now() + ms
  let i = 0
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < deadline) {
        const arg = nextArg(i++)
        const t0 = performance.now()
        await op(arg)
        latencies.push(performance.now() - t0)
      }
    }),
  )
  return { latencies, ms }
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/**
 * Interleaves variants round by round so drift on the machine hits every variant alike, then
 * summarises each. Each round starts one variant later (A B C, B C A, C A B, ...): no variant
 * always runs right after the same neighbour, whose leftovers (a busier server, garbage to
 * collect) would otherwise land on it every time. `perRound` keeps each round's throughput,
 * for ratios taken round by round.
 */
export async function interleave(variants, { clients, seconds, rounds, nextArg, warmupMs = 1000 }) {
  for (const v of variants) await runRound(v.op, { clients, ms: warmupMs, nextArg })
  const acc = new Map(variants.map((v) => [v.name, { latencies: [], ms: 0, perRound: [], cpuMicros: 0 }]))
  const roundMs = (seconds * 1000) / rounds
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(r + k) % variants.length]
      const cpu0 = process.cpuUsage()
      const res = await runRound(v.op, { clients, ms: roundMs, nextArg })
      const cpu = process.cpuUsage(cpu0)
      const a = acc.get(v.name)
      a.cpuMicros += cpu.user + cpu.system
      for (const l of res.latencies) a.latencies.push(l)
      a.ms += res.ms
      a.perRound[r] = res.latencies.length / (res.ms / 1000)
    }
  }
  return variants.map((v) => {
    const a = acc.get(v.name)
    const sorted = Float64Array.from(a.latencies).sort()
    return { name: v.name, ops: sorted.length, throughput: sorted.length / (a.ms / 1000), p50: percentile(sorted, 50), p99: percentile(sorted, 99), perRound: a.perRound, cpuPerOp: a.cpuMicros / sorted.length }
  })
}

/** The median over rounds of `x`'s throughput divided by `base`'s in the same round. */
export function medianRoundRatio(x, base) {
  const ratios = x.perRound.map((t, r) => t / base.perRound[r]).sort((p, q) => p - q)
  const mid = ratios.length >> 1
  return ratios.length % 2 ? ratios[mid] : (ratios[mid - 1] + ratios[mid]) / 2
}

/**
 * Prints a table and each variant's ratios against the first (the baseline). `cpu µs/op` is
 * this process's CPU time (user + system) per operation: driver, Switchyard and the load loop,
 * not the database server's. On a machine where the server shares the cores, it says where a
 * throughput gap comes from better than throughput alone, whose rounds swing by a few percent.
 */
export function report(title, results) {
  const base = results[0]
  console.log(`\n${title}`)
  console.log('variant'.padEnd(34), 'ops/s'.padStart(10), 'p50 ms'.padStart(9), 'p99 ms'.padStart(9), 'thr ratio'.padStart(10), 'p50 ratio'.padStart(10), 'p99 ratio'.padStart(10), 'cpu µs/op'.padStart(10))
  for (const r of results) {
    console.log(
      r.name.padEnd(34),
      r.throughput.toFixed(0).padStart(10),
      r.p50.toFixed(3).padStart(9),
      r.p99.toFixed(3).padStart(9),
      (r.throughput / base.throughput).toFixed(3).padStart(10),
      (r.p50 / base.p50).toFixed(3).padStart(10),
      (r.p99 / base.p99).toFixed(3).padStart(10),
      r.cpuPerOp.toFixed(1).padStart(10),
    )
  }
}
