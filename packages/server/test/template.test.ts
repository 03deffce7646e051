import { describe, expect, it } from 'vitest'
import { compileNativeQuery, QuestionParameterError, type CardParameter, type TemplateTag } from '../src/questions/template.js'

const tags: Record<string, TemplateTag> = {
  id: { name: 'id', type: 'number' },
  name: { name: 'name', type: 'text' },
  since: { name: 'since', type: 'date' },
}
const p = (tag: string, value: unknown): CardParameter => ({ type: 'category', target: ['variable', ['template-tag', tag]], value })
const compile = (q: string, params: CardParameter[] = [], t: Record<string, TemplateTag> = tags, style: 'numbered' | 'question' = 'numbered') =>
  compileNativeQuery(q, t, params, style)

/** The error `fn` throws, asserted to be a 400 QuestionParameterError. */
function refusal(fn: () => unknown): QuestionParameterError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(QuestionParameterError)
    expect((err as QuestionParameterError).statusCode).toBe(400)
    return err as QuestionParameterError
  }
  throw new Error('expected a QuestionParameterError, nothing was thrown')
}

describe('binding', () => {
  it('binds every occurrence as its own placeholder, numbered in order of appearance', () => {
    const q = 'select * from t where id = {{id}} and name = {{ name }} and id2 = {{id}}'
    expect(compile(q, [p('id', 5), p('name', 'x')])).toEqual({ sql: 'select * from t where id = $1::int4 and name = $2 and id2 = $3::int4', params: [5, 'x', 5] })
  })

  it('uses ? placeholders for the question style', () => {
    const q = 'select * from t where id = {{id}} and name = {{name}} and id2 = {{id}}'
    expect(compile(q, [p('id', '5'), p('name', 'x')], tags, 'question')).toEqual({ sql: 'select * from t where id = ? and name = ? and id2 = ?', params: [5, 'x', 5] })
  })

  it('allows whitespace, including newlines, inside the braces', () => {
    expect(compile('select {{\n  id\t}}', [p('id', 1)])).toEqual({ sql: 'select $1::int4', params: [1] })
  })

  it('keeps an injection attempt as a bound value: the SQL text never contains it', () => {
    const attempts = [`x'; drop table t; --`, `' or '1'='1`, `$1`, `{{id}}`, `]] or 1=1 [[`, `1); delete from t where (1`]
    for (const evil of attempts) {
      const { sql, params } = compile('select * from t where name = {{name}} [[and id = {{id}}]]', [p('name', evil), p('id', 3)])
      expect(sql).toBe('select * from t where name = $1 and id = $2::int4')
      expect(params).toEqual([evil, 3])
    }
    // A numeric tag refuses SQL outright instead of binding it.
    expect(refusal(() => compile('select {{id}}', [p('id', '1 or 1=1')])).message).toMatch(/"id" must be a number/)
  })

  it('unwraps a one-element list, as newer Metabase clients send it', () => {
    expect(compile('select {{id}}', [p('id', [100])])).toEqual({ sql: 'select $1::int4', params: [100] })
  })

  it('expands a list of text or numbers into one placeholder per value', () => {
    expect(compile('select * from t where id in ({{id}}) and name = {{name}}', [p('id', [1, '2', 3]), p('name', 'a')])).toEqual({
      sql: 'select * from t where id in ($1::int4, $2::int4, $3::int4) and name = $4',
      params: [1, 2, 3, 'a'],
    })
    expect(compile('select * from t where name in ({{name}})', [p('name', ['a', 'b'])], tags, 'question')).toEqual({ sql: 'select * from t where name in (?, ?)', params: ['a', 'b'] })
  })

  it('binds nothing inside comments outside optional clauses, as Metabase does', () => {
    const q = 'select 1 -- and id = {{id}} [[x\n/* {{nope}} */ where name = {{name}}'
    expect(compile(q, [p('name', 'n')])).toEqual({ sql: 'select 1 -- and id = {{id}} [[x\n/* {{nope}} */ where name = $1', params: ['n'] })
  })

  it('substitutes inside string literals (as Metabase does): the value is still only a parameter', () => {
    expect(compile("select '{{name}}'", [p('name', 'x')])).toEqual({ sql: "select '$1'", params: ['x'] })
  })

  it('leaves unopened ]] and }} and triple braces as Metabase does', () => {
    expect(compile('select a[b[1]] from t where {{{id}}}', [p('id', 1)])).toEqual({ sql: 'select a[b[1]] from t where {$1::int4}', params: [1] })
  })
})

describe('optional clauses', () => {
  const q = 'select * from t where 1=1 [[and id = {{id}}]] [[and placed >= {{since}}]]'

  it('drop out when their tag has no value', () => {
    expect(compile(q)).toEqual({ sql: 'select * from t where 1=1  ', params: [] })
    expect(compile(q, [p('id', null), p('since', [])])).toEqual({ sql: 'select * from t where 1=1  ', params: [] })
  })

  it('stay, without brackets, when it has one', () => {
    expect(compile(q, [p('since', '2026-01-02')])).toEqual({ sql: 'select * from t where 1=1  and placed >= $1::date', params: ['2026-01-02'] })
    expect(compile(q, [p('since', '2026-01-02'), p('id', 1)])).toEqual({ sql: 'select * from t where 1=1 and id = $1::int4 and placed >= $2::date', params: [1, '2026-01-02'] })
  })

  it('drop out when any one of several tags has no value', () => {
    const two = 'select * from t where 1=1 [[and id between {{id}} and {{id}} + 1 and name = {{name}}]]'
    expect(compile(two, [p('id', 1)])).toEqual({ sql: 'select * from t where 1=1 ', params: [] })
    expect(compile(two, [p('id', 1), p('name', 'a')], tags, 'question')).toEqual({ sql: 'select * from t where 1=1 and id between ? and ? + 1 and name = ?', params: [1, 1, 'a'] })
  })

  it('are refused when nested, unclosed or without a tag', () => {
    expect(refusal(() => compile('select 1 [[and {{id}} [[and {{name}}]] ]]')).message).toMatch(/cannot be nested/)
    expect(refusal(() => compile('select 1 [[and id = {{id}}')).message).toMatch(/no matching "]]"/)
    expect(refusal(() => compile('select 1 [[and true]]')).message).toMatch(/must contain at least one \{\{tag\}\}/)
    expect(refusal(() => compile('select {{id')).message).toMatch(/no matching "}}"/)
    expect(refusal(() => compile('select {{  }}')).message).toMatch(/cannot be empty/)
  })
})

describe('defaults and required tags', () => {
  it('use the default when no value is given, and the value over the default', () => {
    const withDefault = { id: { name: 'id', type: 'number', default: 7 } } satisfies Record<string, TemplateTag>
    expect(compile('select {{id}}', [], withDefault)).toEqual({ sql: 'select $1::int4', params: [7] })
    expect(compile('select {{id}}', [p('id', null)], withDefault)).toEqual({ sql: 'select $1::int4', params: [7] })
    expect(compile('select {{id}}', [p('id', 8)], withDefault)).toEqual({ sql: 'select $1::int4', params: [8] })
    expect(compile('select 1 [[where id = {{id}}]]', [], withDefault)).toEqual({ sql: 'select 1 where id = $1::int4', params: [7] })
  })

  it('checks a default like a value', () => {
    const bad = { since: { name: 'since', type: 'date', default: 'last week' } } satisfies Record<string, TemplateTag>
    expect(refusal(() => compile('select {{since}}', [], bad)).tag).toBe('since')
  })

  it('refuse a tag outside an optional clause with no value, naming it', () => {
    const err = refusal(() => compile('select * from t where id = {{id}}'))
    expect(err.message).toMatch(/Missing required parameter "id"/)
    expect(err.tag).toBe('id')
  })

  it('refuse a required tag with no value even inside an optional clause', () => {
    const required = { id: { name: 'id', type: 'number', required: true } } satisfies Record<string, TemplateTag>
    expect(refusal(() => compile('select 1 [[where id = {{id}}]]', [], required)).message).toMatch(/Missing required parameter "id"/)
  })
})

describe('type coercion', () => {
  it('numbers: numeric strings become numbers; anything else is refused naming the tag', () => {
    expect(compile('select {{id}}', [p('id', ' -1.5e2 ')]).params).toEqual([-150])
    for (const bad of ['abc', '', '0x10', 'Infinity', '1e999', true, {}, 'NaN', Number.NaN, 2 ** 60, '12345678901234567890']) {
      const err = refusal(() => compile('select {{id}}', [p('id', bad)]))
      expect(err.message).toContain('"id"')
      expect(err.tag).toBe('id')
    }
  })

  it('dates: YYYY-MM-DD or an ISO timestamp, calendar-checked, bound as given', () => {
    for (const ok of ['2024-02-29', '2026-01-02T03:04', '2026-01-02T03:04:05', '2026-01-02T03:04:05.123Z', '2026-01-02T03:04:05+05:30']) {
      expect(compile('select {{since}}', [p('since', ok)]).params).toEqual([ok])
    }
    for (const bad of ['yesterday', '2023-02-29', '2026-13-01', '2026-01-32', '2026-1-2', '2026-01-02T24:00', '2026-01-02 03:04', "2026-01-02'; drop table t; --", 20260102, 'past30days']) {
      expect(refusal(() => compile('select {{since}}', [p('since', bad)])).message).toMatch(/"since" must be a date/)
    }
    expect(refusal(() => compile('select {{since}}', [p('since', ['2026-01-01', '2026-01-02'])])).message).toMatch(/single value/)
  })

  it('text: strings as given; numbers and booleans as their text; objects refused', () => {
    expect(compile('select {{name}}', [p('name', 5)]).params).toEqual(['5'])
    expect(compile('select {{name}}', [p('name', '')]).params).toEqual([''])
    expect(refusal(() => compile('select {{name}}', [p('name', { a: 1 })])).message).toMatch(/"name" must be text/)
    expect(refusal(() => compile('select {{name}}', [p('name', [['a']])])).message).toMatch(/flat list/)
  })

  it('names the position of a bad value in a list, with the element error as cause', () => {
    const err = refusal(() => compile('select {{id}}', [p('id', [1, 'x'])]))
    expect(err.message).toMatch(/"id", value 2 of 2/)
    expect(err.cause).toBeInstanceOf(QuestionParameterError)
  })
})

describe('tags and parameters that do not match', () => {
  it('refuses a tag used in the query that the question does not define', () => {
    const err = refusal(() => compile('select 1 [[where x = {{nope}}]]'))
    expect(err.message).toMatch(/no template tag "nope"/)
    expect(err.tag).toBe('nope')
    // Not found through Object.prototype either.
    expect(refusal(() => compile('select {{constructor}}')).message).toMatch(/no template tag "constructor"/)
  })

  it('refuses a parameter aimed at an undefined tag or one the query does not use', () => {
    expect(refusal(() => compile('select {{id}}', [p('id', 1), p('ghost', 1)])).message).toMatch(/"ghost", which the question does not define/)
    expect(refusal(() => compile('select {{id}}', [p('id', 1), p('name', 'x')])).message).toMatch(/"name", which the query does not use/)
  })

  it('refuses two values for one tag, field-filter targets and other target shapes', () => {
    expect(refusal(() => compile('select {{id}}', [p('id', 1), p('id', 2)])).message).toMatch(/More than one parameter/)
    expect(refusal(() => compile('select {{id}}', [{ target: ['dimension', ['template-tag', 'id']], value: 1 }])).message).toMatch(/field filter/)
    expect(refusal(() => compile('select 1', [{ target: 'id', value: 1 }])).message).toMatch(/Unsupported parameter target/)
  })

  it('refuses tag types other than text, number and date', () => {
    const odd = { s: { name: 's', type: 'snippet' } } as unknown as Record<string, TemplateTag>
    expect(refusal(() => compile('select {{s}}', [], odd)).message).toMatch(/type "snippet"/)
  })
})
