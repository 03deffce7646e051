import type { TenantMigration } from '../../src/tenancy/index.js'

/** Shared by the migrate test and the crash child process, so both apply the same list. */
export const base: TenantMigration[] = [
  {
    name: '001_orders',
    async up(db) {
      await db.query('create table orders (id int primary key, qty int not null, tenant text not null)')
      await db.query('create table applied (name text not null)')
    },
    async down(db) {
      await db.query('drop table orders')
      await db.query('drop table applied')
    },
  },
  {
    name: '002_seed',
    async up(db) {
      await db.query('insert into orders values (1, 5, $1), (2, 7, $1)', [db.tenant])
    },
    async down(db) {
      await db.query('delete from orders')
    },
  },
]

/** Fails where a tenant has a non-positive qty: the data of one tenant breaks it, the others pass. */
export const positive: TenantMigration = {
  name: '003_positive_qty',
  async up(db) {
    await db.query('alter table orders add constraint qty_positive check (qty > 0)')
    await db.query(`insert into applied values ('003')`)
  },
}

/** Records itself in the tenant's `applied` table; `hang` makes it stop mid-transaction (for the crash test). */
export function recording(hang: (tenant: string) => Promise<void> = async () => {}): TenantMigration {
  return {
    name: '004_recorded',
    async up(db) {
      await db.query(`insert into applied values ('004')`)
      await hang(db.tenant)
    },
  }
}
