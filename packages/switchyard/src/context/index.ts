export { createRouteContext, currentRouteContext, detached, emptyRouteContext, withRouteContext } from './route-context.js'
export type { RouteContext, RouteContextInit } from './route-context.js'
