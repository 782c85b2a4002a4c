-- The hot row: the SQL of one `reserve` request (src/reservations/service.rs `reserve`), as in
-- checkout.sql, with every client reserving one seat of the SAME ticket type (1001, capacity
-- 100,000,000 so it never sells out during a run). Its rate, reserves/s, is the database's own
-- limit for one on-sale ticket type: every transaction holds the row lock on that ticket type
-- from its UPDATE to its COMMIT (the INSERT and the commit's WAL flush), so they queue.
\set uid :client_id + 1
\set t 1001
\set e 101
\set k random(1, 1000000000000000)

-- ===== reserve (src/reservations/service.rs `reserve`) =====
-- authenticate: the session is still live (src/auth/service.rs `authenticate`)
SELECT "sessions"."id", "sessions"."user_id", "sessions"."created_at", "sessions"."revoked_at" FROM "sessions" WHERE "sessions"."id" = bid(2, :uid) AND "sessions"."user_id" = bid(1, :uid) AND "sessions"."revoked_at" IS NULL LIMIT 1;
-- idempotency: an earlier reservation with this key?
SELECT "reservations"."id", "reservations"."user_id", "reservations"."event_id", "reservations"."ticket_type_id", "reservations"."quantity", "reservations"."amount_cents", "reservations"."status", "reservations"."expires_at", "reservations"."idempotency_key", "reservations"."created_at", "reservations"."updated_at", "reservations"."expiry_warned_at" FROM "reservations" WHERE "reservations"."user_id" = bid(1, :uid) AND "reservations"."idempotency_key" = 'r-' || :k LIMIT 1;
-- reservable: the ticket type and its event
SELECT "ticket_types"."id" AS "A_id", "ticket_types"."event_id" AS "A_event_id", "ticket_types"."position" AS "A_position", "ticket_types"."name" AS "A_name", "ticket_types"."price_cents" AS "A_price_cents", "ticket_types"."capacity" AS "A_capacity", "ticket_types"."available" AS "A_available", "events"."id" AS "B_id", "events"."organizer_id" AS "B_organizer_id", "events"."title" AS "B_title", "events"."description" AS "B_description", "events"."venue" AS "B_venue", "events"."starts_at" AS "B_starts_at", "events"."ends_at" AS "B_ends_at", "events"."status" AS "B_status", "events"."created_at" AS "B_created_at", "events"."updated_at" AS "B_updated_at" FROM "ticket_types" LEFT JOIN "events" ON "ticket_types"."event_id" = "events"."id" WHERE "ticket_types"."id" = bid(4, :t) LIMIT 1;
BEGIN;
UPDATE "ticket_types" SET "available" = "available" - 1 WHERE "ticket_types"."id" = bid(4, :t) AND "ticket_types"."available" >= 1;
INSERT INTO "reservations" ("id", "user_id", "event_id", "ticket_type_id", "quantity", "amount_cents", "status", "expires_at", "idempotency_key", "created_at", "updated_at", "expiry_warned_at") VALUES (bench_uuid7(), bid(1, :uid), bid(3, :e), bid(4, :t), 1, 100, 'PENDING', now() + interval '600 seconds', 'r-' || :k, now(), now(), NULL) RETURNING "id", "user_id", "event_id", "ticket_type_id", "quantity", "amount_cents", "status", "expires_at", "idempotency_key", "created_at", "updated_at", "expiry_warned_at" \gset res_
COMMIT;
