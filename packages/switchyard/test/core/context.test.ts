import { describe, expect, it } from 'vitest'
import { currentRouteContext, detached, withRouteContext } from '../../src/context/index.js'

const tick = () => new Promise((r) => setTimeout(r, Math.random() * 3))

describe('route context', () => {
  it('is empty outside any scope and frozen inside one', async () => {
    expect(currentRouteContext().tenant).toBeUndefined()
    await withRouteContext({ tenant: 'acme', attributes: { plan: 'pro' } }, async () => {
      await tick()
      const ctx = currentRouteContext()
      expect(ctx.tenant).toBe('acme')
      expect(ctx.attributes.plan).toBe('pro')
      expect(Object.isFrozen(ctx)).toBe(true)
      expect(Object.isFrozen(ctx.attributes)).toBe(true)
      expect(() => {
        ;(ctx as { tenant?: string }).tenant = 'globex'
      }).toThrow(TypeError)
    })
  })

  it('a job started with detached() from a tenant request sees no tenant; an explicit scope sees exactly its own', async () => {
    const seen: (string | undefined)[] = []
    let job: Promise<void> | undefined
    let explicit: Promise<void> | undefined
    await withRouteContext({ tenant: 'acme' }, async () => {
      job = detached(async () => {
        await tick()
        seen.push(currentRouteContext().tenant)
      })
      explicit = detached(() =>
        withRouteContext({ tenant: 'globex' }, async () => {
          await tick()
          seen.push(currentRouteContext().tenant)
        }),
      )
    })
    await Promise.all([job, explicit])
    expect(seen.sort()).toEqual(['globex', undefined].sort())
  })

  it('a plain setTimeout inside a request still carries the request (only detached() drops it)', async () => {
    const tenant = await withRouteContext({ tenant: 'initech' }, () => new Promise<string | undefined>((resolve) => setTimeout(() => resolve(currentRouteContext().tenant), 1)))
    expect(tenant).toBe('initech')
  })
})
