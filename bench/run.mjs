// Runs every benchmark in sequence: node bench/run.mjs [name ...]
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const wanted = process.argv.slice(2)
const names = readdirSync(here).filter((n) => n !== 'lib' && statSync(join(here, n)).isDirectory() && (wanted.length === 0 || wanted.includes(n)))
let failed = 0
for (const name of names) {
  console.log(`\n=== bench/${name}`)
  const r = spawnSync(process.execPath, [join(here, name, 'index.mjs')], { stdio: 'inherit' })
  if (r.status !== 0) failed++
}
process.exit(failed ? 1 : 0)
