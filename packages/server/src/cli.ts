#!/usr/bin/env node
import { Command } from 'commander'
import { buildApp } from './app.js'
import { DEMO_ADMIN, DemoIncompleteError, seedDemo } from './demo.js'

const program = new Command()
program.name('switchyard').description('Switchyard: database routing, schema routing and questions over a Metabase-shaped API')

program
  .command('serve')
  .description('run the server')
  .option('-p, --port <port>', 'port to listen on', '3000')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--data-dir <dir>', 'embedded metadata store directory (ignored with SWITCHYARD_DATABASE_URL)', './.switchyard')
  .action(async (opts: { port: string; host: string; dataDir: string }) => {
    const app = await buildApp({ dataDir: opts.dataDir })
    await listen(app, opts.host, Number(opts.port))
  })

program
  .command('demo')
  .description('seed embedded PGlite databases (a router, three tenant destinations, users, a question) and serve them')
  .option('-p, --port <port>', 'port to listen on', '3000')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--data-dir <dir>', 'where the demo keeps its data', './.switchyard-demo')
  .action(async (opts: { port: string; host: string; dataDir: string }) => {
    const app = await buildApp({ dataDir: opts.dataDir, allowEmbedded: true, logger: { level: 'warn' } })
    let seeded: Awaited<ReturnType<typeof seedDemo>>
    try {
      seeded = await seedDemo(app)
    } catch (err) {
      await app.close()
      console.error(err instanceof DemoIncompleteError ? `${err.message}\n(data directory: ${opts.dataDir})` : err)
      process.exit(1)
    }
    const base = `http://${opts.host}:${opts.port}`
    await listen(app, opts.host, Number(opts.port))
    if (!seeded) {
      console.log(`Switchyard demo (reusing ${opts.dataDir}) on ${base}\nadmin: ${DEMO_ADMIN.email} / ${DEMO_ADMIN.password}`)
      return
    }
    const lines = [
      `Switchyard demo on ${base}`,
      `admin:   ${DEMO_ADMIN.email} / ${DEMO_ADMIN.password}`,
      `API key: ${seeded.apiKey}   (shown once)`,
      ...seeded.users.map((u) => `user:    ${u.email} / ${u.password}   (tenant=${u.tenant})`),
      '',
      'The same question, three viewers, three databases:',
      ...seeded.users.map(
        (u) =>
          `  S=$(curl -s ${base}/api/session -H 'Content-Type: application/json' -d '{"username":"${u.email}","password":"${u.password}"}' | sed 's/.*"id":"\\([^"]*\\)".*/\\1/')\n` +
          `  curl -s -X POST ${base}/api/card/${seeded.cardId}/query -H "X-Metabase-Session: $S" -H 'Content-Type: application/json' -d '{}'`,
      ),
      '',
      `As admin (no attribute: the router database):\n  curl -s -X POST ${base}/api/card/${seeded.cardId}/query -H 'X-Api-Key: ${seeded.apiKey}' -H 'Content-Type: application/json' \\\n    -d '{"parameters":[{"type":"number/<=","target":["variable",["template-tag","max_price"]],"value":100}]}'`,
    ]
    console.log(lines.join('\n'))
  })

async function listen(app: Awaited<ReturnType<typeof buildApp>>, host: string, port: number): Promise<void> {
  const stop = async () => {
    await app.close()
    process.exit(0)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  await app.listen({ host, port })
}

await program.parseAsync()
