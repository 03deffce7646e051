/**
 * An id as every route accepts it: the store's ids are PostgreSQL `int`, so anything past
 * 2^31 - 1 is a validation error naming the field, never an overflow inside the store.
 */
export const ID = { type: 'integer', minimum: 1, maximum: 2_147_483_647 } as const

/** `{ id }` path parameters. */
export const idParams = { type: 'object', required: ['id'], properties: { id: ID } } as const
