import { describe, expect, it } from 'vitest'
import { compileNativeQuery, QuestionParameterError } from '../src/index.js'

const tags = { id: { type: 'number' }, name: { type: 'text' }, since: { type: 'date' } } as const
const p = (tag: string, value: unknown) => ({ type: 'category', target: ['variable', ['template-tag', tag]], value })

describe('native query templates', () => {
  it('binds every tag as a driver parameter, numbered or ?', () => {
    const q = 'select * from t where id = {{id}} and name = {{ name }} and id2 = {{id}}'
    expect(compileNativeQuery(q, tags, [p('id', 5), p('name', 'x')], 'numbered')).toEqual({ sql: 'select * from t where id = $1 and name = $2 and id2 = $3', params: [5, 'x', 5] })
    expect(compileNativeQuery(q, tags, [p('id', '5'), p('name', 'x')], 'question')).toEqual({ sql: 'select * from t where id = ? and name = ? and id2 = ?', params: [5, 'x', 5] })
  })

  it('keeps an injection attempt as data', () => {
    const evil = `x'; drop table t; --`
    const { sql, params } = compileNativeQuery('select * from t where name = {{name}}', tags, [p('name', evil)], 'numbered')
    expect(sql).not.toContain('drop')
    expect(params).toEqual([evil])
  })

  it('drops optional clauses whose tags have no value, keeps them otherwise', () => {
    const q = 'select * from t where 1=1 [[and id = {{id}}]] [[and placed >= {{since}}]]'
    expect(compileNativeQuery(q, tags, [], 'numbered')).toEqual({ sql: 'select * from t where 1=1  ', params: [] })
    expect(compileNativeQuery(q, tags, [p('since', '2026-01-02')], 'numbered')).toEqual({ sql: 'select * from t where 1=1  and placed >= $1', params: ['2026-01-02'] })
    expect(compileNativeQuery(q, tags, [p('id', 1), p('since', '2026-01-02')], 'numbered').params).toEqual([1, '2026-01-02'])
  })

  it('uses a default when no value is given', () => {
    const withDefault = { id: { type: 'number', default: 7 } }
    expect(compileNativeQuery('select {{id}}', withDefault, [], 'numbered')).toEqual({ sql: 'select $1', params: [7] })
  })

  it.each([
    ['a required tag without value', 'select {{id}}', [], /Missing required parameter "id"/],
    ['a number that is not one', 'select {{id}}', [p('id', 'abc')], /"id" must be a number/],
    ['a malformed date', 'select {{since}}', [p('since', 'yesterday')], /"since" must be a date/],
    ['a tag the question does not define', 'select {{nope}}', [], /no template tag "nope"/],
    ['a parameter aimed at an unknown tag', 'select 1', [p('ghost', 1)], /unknown template tag "ghost"/],
    ['a list where one value is expected', 'select {{id}}', [p('id', [1, 2])], /single value/],
  ])('refuses %s with a 400 naming it', (_what, q, params, message) => {
    const err = (() => {
      try {
        compileNativeQuery(q, tags, params, 'numbered')
      } catch (e) {
        return e
      }
      return undefined
    })()
    expect(err).toBeInstanceOf(QuestionParameterError)
    expect((err as QuestionParameterError).statusCode).toBe(400)
    expect((err as Error).message).toMatch(message)
  })

  it('refuses nested and unbalanced optional clauses', () => {
    expect(() => compileNativeQuery('select 1 [[a [[b]] ]]', tags, [], 'numbered')).toThrow(/nested/)
    expect(() => compileNativeQuery('select 1 [[and x', tags, [], 'numbered')).toThrow(/not closed/)
  })
})
