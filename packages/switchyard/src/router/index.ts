export { RouterChain } from './chain.js'
export { DEFAULT_ALIAS, ModelRegistry, staticAlias } from './static.js'
export type { ModelConfig, ModuleConfig } from './static.js'
export type { DatabaseRouter, ModelMeta, RouteDecision, RouteKind, RouteReason, SchemaRoute } from './types.js'
