/**
 * Versioned migrations of the metadata store. Append only: a shipped version is never
 * edited, because stores that already applied it would silently differ.
 */
export const MIGRATIONS: readonly { version: number; statements: readonly string[] }[] = [
  {
    version: 1,
    statements: [
      `create table settings (key text primary key, value jsonb not null)`,
      `create table users (
         id serial primary key,
         email text not null,
         first_name text,
         last_name text,
         password_hash text,
         is_superuser boolean not null default false,
         is_active boolean not null default true,
         login_attributes jsonb not null default '{}'::jsonb,
         sso_source text,
         date_joined timestamptz not null default now(),
         last_login timestamptz
       )`,
      `create unique index users_email_key on users (lower(email))`,
      `create table sessions (
         token_hash text primary key,
         user_id int not null references users (id) on delete cascade,
         created_at timestamptz not null default now()
       )`,
      `create table api_keys (
         id serial primary key,
         name text not null unique,
         key_hash text not null unique,
         masked_key text not null,
         group_id int,
         created_by int references users (id) on delete set null,
         created_at timestamptz not null default now()
       )`,
      `create table databases (
         id serial primary key,
         name text not null,
         engine text not null,
         details jsonb not null,
         router_database_id int references databases (id) on delete cascade,
         router_user_attribute text,
         settings jsonb not null default '{}'::jsonb,
         created_at timestamptz not null default now(),
         updated_at timestamptz not null default now()
       )`,
      `create unique index databases_destination_slug on databases (router_database_id, name) where router_database_id is not null`,
      `create table metadata_tables (
         id serial primary key,
         database_id int not null references databases (id) on delete cascade,
         schema text not null,
         name text not null,
         unique (database_id, schema, name)
       )`,
      `create table metadata_fields (
         id serial primary key,
         table_id int not null references metadata_tables (id) on delete cascade,
         name text not null,
         base_type text not null,
         database_type text not null,
         nullable boolean not null,
         position int not null
       )`,
      `create table cards (
         id serial primary key,
         name text not null,
         description text,
         database_id int not null references databases (id) on delete cascade,
         dataset_query jsonb not null,
         display text not null default 'table',
         cache_ttl int,
         creator_id int references users (id) on delete set null,
         created_at timestamptz not null default now(),
         updated_at timestamptz not null default now()
       )`,
      `create table query_executions (
         id bigserial primary key,
         started_at timestamptz not null default now(),
         user_id int,
         api_key_id int,
         card_id int,
         router_database_id int,
         database_id int,
         running_time int not null,
         row_count int,
         cache_hit boolean not null default false,
         error text,
         context text not null
       )`,
    ],
  },
]
