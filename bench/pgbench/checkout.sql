-- One checkout = the SQL the server issues for one `reserve` request and one `pay` (WALLET)
-- request, statement for statement, as captured with log_statement='all' on PostgreSQL while the
-- API served `evenntify-bench checkout` (see bench/README.md). Same tables, same indexes, same
-- transaction boundaries; the column lists are the server's. Differences, all in the baseline's
-- favour or neutral: ids are computed with bid()/bench_uuid7() instead of being sent as
-- parameters, timestamps are now(), the report payload is a constant of the same size (~1 KiB),
-- and the report sequencer's follow-up transaction (src/reports/outbox.rs `sequence`, batched
-- under load) is not included.
--
-- Each pgbench client is one buyer (user client_id + 1) buying one seat of a random ticket type
-- among 1,000 (100 events × 10 ticket types).
\set uid :client_id + 1
\set t random(1, 1000)
\set e (:t - 1) / 10 + 1
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

-- ===== pay (src/payments/service.rs `pay` → `pay_with_wallet`) =====
SELECT "sessions"."id", "sessions"."user_id", "sessions"."created_at", "sessions"."revoked_at" FROM "sessions" WHERE "sessions"."id" = bid(2, :uid) AND "sessions"."user_id" = bid(1, :uid) AND "sessions"."revoked_at" IS NULL LIMIT 1;
-- replay: a SUCCEEDED payment with this key?
SELECT "transactions"."id", "transactions"."user_id", "transactions"."event_id", "transactions"."reservation_id", "transactions"."kind", "transactions"."status", "transactions"."method", "transactions"."amount_cents", "transactions"."failure_reason", "transactions"."idempotency_key", "transactions"."success_key", "transactions"."gateway_charge_id", "transactions"."created_at" FROM "transactions" WHERE "transactions"."user_id" = bid(1, :uid) AND "transactions"."kind" = 'PAYMENT' AND "transactions"."success_key" = 'p-' || :k LIMIT 1;
SELECT "reservations"."id", "reservations"."user_id", "reservations"."event_id", "reservations"."ticket_type_id", "reservations"."quantity", "reservations"."amount_cents", "reservations"."status", "reservations"."expires_at", "reservations"."idempotency_key", "reservations"."created_at", "reservations"."updated_at", "reservations"."expiry_warned_at" FROM "reservations" WHERE "reservations"."id" = :res_id LIMIT 1;
BEGIN;
-- lock the reservation
SELECT "reservations"."id", "reservations"."user_id", "reservations"."event_id", "reservations"."ticket_type_id", "reservations"."quantity", "reservations"."amount_cents", "reservations"."status", "reservations"."expires_at", "reservations"."idempotency_key", "reservations"."created_at", "reservations"."updated_at", "reservations"."expiry_warned_at" FROM "reservations" WHERE "reservations"."id" = :res_id LIMIT 1 FOR UPDATE;
-- ledger::record (src/payments/ledger.rs)
INSERT INTO "transactions" ("id", "user_id", "event_id", "reservation_id", "kind", "status", "method", "amount_cents", "failure_reason", "idempotency_key", "success_key", "gateway_charge_id", "created_at") VALUES (bench_uuid7(), bid(1, :uid), bid(3, :e), :res_id, 'PAYMENT', 'SUCCEEDED', 'WALLET', 100, NULL, 'p-' || :k, 'p-' || :k, NULL, now()) RETURNING "id", "user_id", "event_id", "reservation_id", "kind", "status", "method", "amount_cents", "failure_reason", "idempotency_key", "success_key", "gateway_charge_id", "created_at" \gset tx_
-- ledger::debit: ensure_wallet, conditional debit, balance, entry
INSERT INTO "wallets" ("user_id", "balance_cents", "updated_at") VALUES (bid(1, :uid), 0, now()) ON CONFLICT ("user_id") DO NOTHING RETURNING "user_id";
UPDATE "wallets" SET "balance_cents" = "balance_cents" - 100, "updated_at" = now() WHERE "wallets"."user_id" = bid(1, :uid) AND "wallets"."balance_cents" >= 100;
SELECT "wallets"."user_id", "wallets"."balance_cents", "wallets"."updated_at" FROM "wallets" WHERE "wallets"."user_id" = bid(1, :uid) LIMIT 1 \gset w_
INSERT INTO "ledger_entries" ("id", "user_id", "transaction_id", "amount_cents", "balance_after_cents", "created_at") VALUES (bench_uuid7(), bid(1, :uid), :tx_id, -100, :w_balance_cents, now()) RETURNING "id", "user_id", "transaction_id", "amount_cents", "balance_after_cents", "created_at";
-- confirm: PENDING → CONFIRMED, one ticket
UPDATE "reservations" SET "status" = 'CONFIRMED', "updated_at" = now() WHERE "reservations"."id" = :res_id AND "reservations"."status" = 'PENDING';
INSERT INTO "tickets" ("id", "reservation_id", "event_id", "ticket_type_id", "user_id", "code", "status", "created_at") VALUES (bench_uuid7(), :res_id, bid(3, :e), bid(4, :t), bid(1, :uid), bench_ticket_code(), 'VALID', now()) RETURNING "id";
-- reports::outbox::record: event, buyer, summary_in (3 aggregates), the report row
SELECT "events"."id", "events"."organizer_id", "events"."title", "events"."description", "events"."venue", "events"."starts_at", "events"."ends_at", "events"."status", "events"."created_at", "events"."updated_at" FROM "events" WHERE "events"."id" = bid(3, :e) LIMIT 1;
SELECT "users"."id", "users"."username", "users"."email", "users"."password_hash", "users"."role", "users"."created_at" FROM "users" WHERE "users"."id" = bid(1, :uid) LIMIT 1;
SELECT "reservations"."status", CAST(SUM(quantity) AS BIGINT) AS "seats" FROM "reservations" WHERE "reservations"."event_id" = bid(3, :e) AND "reservations"."status" IN ('PENDING', 'CONFIRMED') GROUP BY "reservations"."status";
SELECT CAST(SUM(available) AS BIGINT) AS "available", CAST(SUM(capacity) AS BIGINT) AS "capacity" FROM "ticket_types" WHERE "ticket_types"."event_id" = bid(3, :e) LIMIT 1;
SELECT "transactions"."kind", "transactions"."status", CAST(SUM(amount_cents) AS BIGINT) AS "amount", CAST(COUNT(*) AS BIGINT) AS "n" FROM "transactions" WHERE "transactions"."event_id" = bid(3, :e) GROUP BY "transactions"."kind", "transactions"."status";
INSERT INTO "transaction_reports" ("id", "position", "event_id", "organizer_id", "transaction_id", "payload", "created_at") VALUES (bench_uuid7(), NULL, bid(3, :e), bid(1, 0), :tx_id, '{"transaction":{"id":"' || :tx_id || '"},"payload":"' || repeat('x', 1000) || '"}', now()) RETURNING "id", "position", "event_id", "organizer_id", "transaction_id", "payload", "created_at";
-- notifications::notify
INSERT INTO "notifications" ("id", "user_id", "kind", "message", "reservation_id", "event_id", "created_at", "read_at") VALUES (bench_uuid7(), bid(1, :uid), 'RESERVATION_CONFIRMED', 'Your reservation of 1 seat(s) is confirmed; your tickets are ready.', :res_id, bid(3, :e), now(), NULL) RETURNING "id", "user_id", "kind", "message", "reservation_id", "event_id", "created_at", "read_at";
COMMIT;
-- the response's reservation { tickets } (dataloader)
SELECT "tickets"."id", "tickets"."reservation_id", "tickets"."event_id", "tickets"."ticket_type_id", "tickets"."user_id", "tickets"."code", "tickets"."status", "tickets"."created_at" FROM "tickets" WHERE "tickets"."reservation_id" IN (:res_id) ORDER BY "tickets"."id" ASC;
