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
  const t = (engineType ?? '').toLowerCase()
  for (const [re, base] of BASE_TYPES) if (re.test(t)) return base
  return 'type/*'
}
