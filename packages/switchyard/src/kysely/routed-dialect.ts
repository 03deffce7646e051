import {
  MysqlAdapter,
  MysqlIntrospector,
  MysqlQueryCompiler,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type TransactionSettings,
} from 'kysely'
import type { Switchyard } from '../facade/switchyard.js'
import { RoutedConnection } from './routed-connection.js'

export type KyselyFlavor = 'postgres' | 'mysql' | 'sqlite'

class RoutedDriver implements Driver {
  constructor(private readonly sy: Switchyard) {}
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    return new RoutedConnection(this.sy)
  }
  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return (connection as RoutedConnection).begin(settings)
  }
  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return (connection as RoutedConnection).commit()
  }
  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return (connection as RoutedConnection).rollback()
  }
  async releaseConnection(): Promise<void> {}
  // Pools belong to Switchyard; destroying a Kysely view must not close them.
  async destroy(): Promise<void> {}
}

/** A Kysely dialect whose every statement is routed by Switchyard. */
export class RoutedDialect implements Dialect {
  constructor(
    private readonly sy: Switchyard,
    private readonly flavor: KyselyFlavor,
  ) {}

  createDriver(): Driver {
    return new RoutedDriver(this.sy)
  }

  createQueryCompiler(): QueryCompiler {
    if (this.flavor === 'mysql') return new MysqlQueryCompiler()
    if (this.flavor === 'sqlite') return new SqliteQueryCompiler()
    return new PostgresQueryCompiler()
  }

  createAdapter(): DialectAdapter {
    if (this.flavor === 'mysql') return new MysqlAdapter()
    if (this.flavor === 'sqlite') return new SqliteAdapter()
    return new PostgresAdapter()
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    if (this.flavor === 'mysql') return new MysqlIntrospector(db)
    if (this.flavor === 'sqlite') return new SqliteIntrospector(db)
    return new PostgresIntrospector(db)
  }
}
