import type { TenantMigration } from '../../src/tenancy/index.js'

/**
 * Migrations in SQL that MySQL/MariaDB and SQLite both take (`?` placeholders, one DDL
 * statement where a failure must leave nothing behind), shared by the engine tests and the
 * crash child process.
 */
export const portableBase: TenantMigration[] = [
  {
    name: '001_orders',
    async up(db) {
      await db.query('create table if not exists orders (id int primary key, qty int not null, tenant varchar(64) not null)')
      await db.query('create table if not exists applied (name varchar(16) not null)')
    },
    async down(db) {
      await db.query('drop table orders')
      await db.query('drop table applied')
    },
  },
  {
    name: '002_seed',
    async up(db) {
      await db.query('insert into orders (id, qty, tenant) values (1, 5, ?), (2, 7, ?)', [db.tenant, db.tenant])
    },
    async down(db) {
      await db.query('delete from orders')
    },
  },
]

/** Fails for a tenant whose orders repeat a qty: one tenant's data breaks it, the others pass. */
export const uniqueQty: TenantMigration = {
  name: '003_unique_qty',
  async up(db) {
    await db.query('create unique index orders_qty on orders (qty)')
  },
  async down(db) {
    await db.query(db.capabilities.dialect === 'mysql' ? 'drop index orders_qty on orders' : 'drop index orders_qty')
  },
}

/** Records itself in `applied`; `hang` stops it mid-migration (for the crash tests). */
export function marker(hang: (tenant: string) => Promise<void> = async () => {}): TenantMigration {
  return {
    name: '004_marker',
    async up(db) {
      await db.query(`insert into applied (name) values ('004')`)
      await hang(db.tenant)
    },
  }
}
