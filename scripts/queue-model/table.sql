with ins as (insert into queue_model_table.r (id, created_at, client, phone_number, value_cents, company_id, product_id, status, updated_at)
  select gen_random_uuid(), now(), 'shop', '5511' || (900000000 + (random() * 99999999)::int), 1000, 'claro_11', 'claro_10', 'pending', now() from generate_series(1, 10) returning id)
insert into queue_model_table.w (id, next_step, next_attempt_at) select id, 'send', now() from ins;
with due as (select id, next_step from queue_model_table.w where next_attempt_at <= statement_timestamp() order by next_attempt_at limit 10 for update skip locked),
 uw as (update queue_model_table.w w set claims = w.claims + 1, next_step = 'query', next_attempt_at = statement_timestamp() + interval '15 s' from due where w.id = due.id returning w.id, w.claims, due.next_step),
 ur as (update queue_model_table.r r set status = 'processing', updated_at = statement_timestamp(), attempts = r.attempts + 1 from uw where r.id = uw.id returning r.id)
select coalesce(array_agg(uw.id)::text, '{}') as ids, coalesce(array_agg(uw.claims)::text, '{}') as cl from uw \gset
with gone as (delete from queue_model_table.w w using unnest(:ids::uuid[], :cl::int[]) as t(id, claims) where w.id = t.id and w.claims = t.claims returning w.id)
update queue_model_table.r r set status = 'completed', updated_at = statement_timestamp() from gone where r.id = gone.id;
