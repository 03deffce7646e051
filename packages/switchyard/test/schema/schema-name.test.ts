import { describe, expect, it } from 'vitest'
import { InvalidSchemaNameError, schemaMapping, validateSchemaName } from '../../src/index.js'

describe('schema names: at most 63 bytes (NAMEDATALEN - 1), counted in bytes', () => {
  it('accepts 63 ASCII characters and refuses 64', () => {
    const max = 't' + 'x'.repeat(62)
    expect(max).toHaveLength(63)
    expect(validateSchemaName(max)).toBe(max)
    expect(() => validateSchemaName(max + 'x')).toThrow(/64 bytes long, at most 63/)
  })

  it('counts multi-byte characters in bytes, so a 32-character name can already be too long', () => {
    // 'é' is two bytes in UTF-8: 32 of them are 64 bytes although the string has 32 characters.
    const long = 'é'.repeat(32)
    expect(long).toHaveLength(32)
    expect(() => validateSchemaName(long)).toThrow(/64 bytes long, at most 63/)
    // Within the byte limit, non-ASCII is still refused, naming the character.
    expect(() => validateSchemaName('tenant_é')).toThrow(/bad character "é"/)
    // A 4-byte character: 16 of them are 64 bytes.
    expect(() => validateSchemaName('😀'.repeat(16))).toThrow(/64 bytes long/)
  })

  it('applies the limit to the schema a naming convention builds, not just the key', () => {
    const convention = schemaMapping('tenant_{key}')
    const key = 'k'.repeat(63 - 'tenant_'.length)
    expect(convention.schemaFor(key)).toHaveLength(63)
    expect(() => convention.schemaFor(key + 'k')).toThrow(InvalidSchemaNameError)
  })

  it.each(['', '1abc', 'a-b', 'a b', 'a"b', 'a;b', 'pg_tenant', 'PG_x'])('refuses %j', (name) => {
    expect(() => validateSchemaName(name)).toThrow(InvalidSchemaNameError)
  })
})
