import { describe, expect, it } from 'vitest'
import { RewriteCache } from '../../src/schema/rewrite-cache.js'

describe('RewriteCache: analyses per text, rewrites per (text, schema), both LRU-bounded', () => {
  it('evicts the least recently used rewrite across all statements, keeping the total bounded', () => {
    const c = new RewriteCache<string, string>(10, 3)
    c.setAnalysis('q1', 'a1')
    c.setAnalysis('q2', 'a2')
    c.set('q1', 's1', 'q1@s1')
    c.set('q1', 's2', 'q1@s2')
    c.set('q2', 's1', 'q2@s1')
    expect(c.get('q1', 's1')).toBe('q1@s1') // now the most recent; q1@s2 is the oldest
    c.set('q2', 's2', 'q2@s2')
    expect(c.sizes).toEqual({ analyses: 2, rewrites: 3 })
    expect(c.get('q1', 's2')).toBeUndefined()
    expect([c.get('q1', 's1'), c.get('q2', 's1'), c.get('q2', 's2')]).toEqual(['q1@s1', 'q2@s1', 'q2@s2'])
  })

  it("evicting a statement's analysis drops its rewrites too, and a rewrite needs its analysis", () => {
    const c = new RewriteCache<string, string>(2, 100)
    c.setAnalysis('q1', 'a1')
    c.set('q1', 's1', 'x')
    c.set('q1', 's2', 'y')
    c.setAnalysis('q2', 'a2')
    expect(c.analysis('q1')).toBe('a1') // q2 is now the least recently used statement
    c.setAnalysis('q3', 'a3')
    expect(c.analysis('q2')).toBeUndefined()
    expect(c.sizes).toEqual({ analyses: 2, rewrites: 2 })
    c.set('q2', 's1', 'ignored')
    expect(c.get('q2', 's1')).toBeUndefined()
    c.setAnalysis('q4', 'a4')
    c.setAnalysis('q5', 'a5')
    expect(c.sizes).toEqual({ analyses: 2, rewrites: 0 })
  })

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new RewriteCache(0, 1)).toThrow(/statement cache capacity/)
    expect(() => new RewriteCache(1, 1.5)).toThrow(/rewrite cache capacity/)
  })
})
