drop schema if exists queue_model_table cascade; create schema queue_model_table;
create table queue_model_table.r (id uuid primary key, created_at timestamptz not null, client text not null, phone_number text not null,
  value_cents int not null, company_id text not null, product_id text not null, status text not null, updated_at timestamptz not null,
  failure_code text, attempts int not null default 0) with (fillfactor = 85);
create index on queue_model_table.r (phone_number, created_at, id);
create index on queue_model_table.r (client, phone_number, created_at, id);
create table queue_model_table.w (id uuid primary key, next_step text not null, next_attempt_at timestamptz not null, claims int not null default 0);
create index w_due on queue_model_table.w (next_attempt_at);
