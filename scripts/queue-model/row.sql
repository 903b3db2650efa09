insert into queue_model_row.r (id, created_at, client, phone_number, value_cents, company_id, product_id, status, updated_at, next_step, next_attempt_at)
  select gen_random_uuid(), now(), 'shop', '5511' || (900000000 + (random() * 99999999)::int), 1000, 'claro_11', 'claro_10', 'pending', now(), 'send', now() from generate_series(1, 10);
with due as (select id, status, next_step from queue_model_row.r where status in ('pending','processing') and next_attempt_at <= statement_timestamp() order by next_attempt_at limit 10 for update skip locked),
 upd as (update queue_model_row.r r set status = 'processing', updated_at = statement_timestamp(), attempts = r.attempts + 1, claims = r.claims + 1, next_step = 'query', next_attempt_at = statement_timestamp() + interval '15 s' from due where r.id = due.id returning r.id, r.claims)
select coalesce(array_agg(id)::text, '{}') as ids, coalesce(array_agg(claims)::text, '{}') as cl from upd \gset
update queue_model_row.r r set status = 'completed', updated_at = statement_timestamp(), next_step = null, next_attempt_at = null
  from unnest(:ids::uuid[], :cl::int[]) as t(id, claims) where r.id = t.id and r.claims = t.claims and r.status in ('pending','processing');
