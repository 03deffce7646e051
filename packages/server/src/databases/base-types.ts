/**
 * Metabase base types from the engine's own type names (the library reports names, not
 * codes, so this table serves every engine).
 */
const BASE_TYPES: [RegExp, string][] = [
  [/^(bool|boolean|bit)$/, 'type/Boolean'],
  [/^(int8|bigint|longlong)$/, 'type/BigInteger'],
  [/^(int2|int4|smallint|integer|int|tinyint|mediumint|long|short|tiny|int24|serial|year)$/, 'type/Integer'],
  [/^(numeric|decimal|newdecimal)/, 'type/Decimal'],
  [/^(float4|float8|real|double|double precision|float)$/, 'type/Float'],
  [/^(date|newdate)$/, 'type/Date'],
  [/^(timestamptz|timestamp with time zone)$/, 'type/DateTimeWithLocalTZ'],
  [/^(timestamp|timestamp without time zone|datetime|datetime2)$/, 'type/DateTime'],
  [/^(time|timetz|time without time zone|time with time zone)$/, 'type/Time'],
  [/^(json|jsonb)$/, 'type/JSON'],
  [/^uuid$/, 'type/UUID'],
  [/(char|text|string|varchar|bpchar|name|enum|set|citext)/, 'type/Text'],
]

export function baseType(engineType: string | undefined): string {
  const key = engineType ?? ''
  let base = known.get(key)
  if (base === undefined) {
    const t = key.toLowerCase()
    base = BASE_TYPES.find(([re]) => re.test(t))?.[1] ?? 'type/*'
    // Engines report a small, closed set of type names; the bound only guards against a driver that does not.
    if (known.size < 1000) known.set(key, base)
  }
  return base
}

// Every column of every result asks: twelve regular expressions per column add up on the hot path.
const known = new Map<string, string>()
