// PGlite is PostgreSQL compiled to WebAssembly: the catalog queries are the same.
export { LIST_SCHEMAS_SQL, introspectPostgres as introspectPglite, pgTypeName } from '../postgres/introspect.js'
