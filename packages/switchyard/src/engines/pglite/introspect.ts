// PGlite is PostgreSQL compiled to WebAssembly: the catalog queries are the same.
export { introspectPostgres as introspectPglite, pgTypeName, postgresSchemas } from '../postgres/introspect.js'
