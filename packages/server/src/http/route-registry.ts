import type { RouteOptions } from 'fastify'
import { ConfigurationError } from 'switchyard'
import type { Access } from '../auth/authenticate.js'

/** A registered route as the server declared it. */
export interface RouteEntry {
  readonly method: string
  readonly url: string
  readonly access: Access | undefined
  readonly schema: Readonly<Record<string, unknown>> | undefined
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH'])

/**
 * Why a route's declaration is incomplete, or undefined when it is not: every route states
 * who may call it, and validates everything it reads — its path parameters (each one), its
 * body on POST/PUT/PATCH, and otherwise at least its query string.
 *
 * @example
 * ```ts
 * routeDeclarationProblem({ method: 'GET', url: '/api/x/:id', access: 'user', schema: {} }) // 'has no params schema for :id'
 * ```
 */
export function routeDeclarationProblem(route: RouteEntry): string | undefined {
  if (!route.access) return 'declares no config.access (public, user or admin)'
  const schema = route.schema
  if (!schema) return 'has no schema'
  const names = [...route.url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!)
  const params = schema.params as { properties?: Record<string, unknown>; required?: readonly string[] } | undefined
  for (const name of names) {
    if (!params?.properties?.[name] || !params.required?.includes(name)) return `has no params schema for :${name}`
  }
  if (BODY_METHODS.has(route.method) && !schema.body) return 'has no body schema'
  if (!schema.body && !schema.params && !schema.querystring) return 'has no querystring, params or body schema'
  return undefined
}

/** Records a route at registration and refuses one whose declaration is incomplete. */
export function checkRouteDeclaration(route: RouteOptions): RouteEntry {
  const methods = Array.isArray(route.method) ? route.method : [route.method]
  const entry: RouteEntry = {
    method: methods.join(','),
    url: route.url,
    access: (route.config as { access?: Access } | undefined)?.access,
    schema: route.schema as Record<string, unknown> | undefined,
  }
  const problem = routeDeclarationProblem(entry)
  if (problem) throw new ConfigurationError(`Route ${entry.method} ${entry.url} ${problem}`)
  return entry
}
