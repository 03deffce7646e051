import type { ModelMeta } from './types.js'

export const DEFAULT_ALIAS = 'default'

export interface ModelConfig {
  readonly database?: string
  readonly module?: string
}

export interface ModuleConfig {
  readonly database?: string
}

/**
 * Static routing, what you get with no router answering: the model's own database, else
 * its module's, else `default`.
 *
 * @example
 * ```ts
 * const modules = { billing: { database: 'billing' } }
 * staticAlias({ table: 'invoices', module: 'billing' }, modules)                    // 'billing'
 * staticAlias({ table: 'ledger', module: 'billing', database: 'ledger' }, modules)  // 'ledger'
 * staticAlias({ table: 'users' }, modules)                                          // 'default'
 * ```
 */
export function staticAlias(model: ModelMeta, modules: Readonly<Record<string, ModuleConfig>>): string {
  if (model.database) return model.database
  if (model.module) {
    const db = modules[model.module]?.database
    if (db) return db
  }
  return DEFAULT_ALIAS
}

/** Frozen model metadata by table name; unknown tables get a bare `{ table }`. */
export class ModelRegistry {
  readonly #models = new Map<string, ModelMeta>()
  static readonly NONE: ModelMeta = Object.freeze({})

  constructor(models: Readonly<Record<string, ModelConfig>> = {}) {
    for (const [table, cfg] of Object.entries(models)) {
      this.#models.set(table, Object.freeze({ table, ...cfg }))
    }
  }

  get(table: string | undefined): ModelMeta {
    if (table === undefined) return ModelRegistry.NONE
    let meta = this.#models.get(table)
    if (!meta) {
      meta = Object.freeze({ table })
      this.#models.set(table, meta)
    }
    return meta
  }
}
