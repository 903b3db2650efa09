drop schema if exists queue_model_row cascade; create schema queue_model_row;
create table queue_model_row.r (id uuid primary key, created_at timestamptz not null, client text not null, phone_number text not null,
  value_cents int not null, company_id text not null, product_id text not null, status text not null, updated_at timestamptz not null,
  failure_code text, next_step text, next_attempt_at timestamptz, attempts int not null default 0, claims int not null default 0);
create index on queue_model_row.r (phone_number, created_at, id);
create index on queue_model_row.r (client, phone_number, created_at, id);
create index r_due on queue_model_row.r (next_attempt_at) where status in ('pending','processing');
