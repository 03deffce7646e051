import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/**
 * Runs `child` (a .ts file beside this one) under vite-node until it has printed `hung`,
 * then SIGKILLs it. Resolves to the tenants it reported migrated before the crash.
 */
export async function crashWhenHung(child: string, args: readonly string[]): Promise<string[]> {
  const proc = spawn(
    process.execPath,
    [fileURLToPath(new URL('../../../../node_modules/vite-node/vite-node.mjs', import.meta.url)), fileURLToPath(new URL(child, import.meta.url)), ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const migrated: string[] = []
  await new Promise<void>((resolve, reject) => {
    proc.on('exit', (code) => reject(new Error(`crash child exited early with ${code}`)))
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (line.startsWith('migrated ')) migrated.push(line.slice(9))
      if (line === 'hung') resolve()
    })
  })
  proc.removeAllListeners('exit')
  const exited = new Promise((r) => proc.on('exit', r))
  proc.kill('SIGKILL')
  await exited
  return migrated
}
