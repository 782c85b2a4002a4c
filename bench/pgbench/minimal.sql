-- The physical limit of a checkout (issue 18): the least SQL that does the same DURABLE work as
-- one `reserve` plus one `pay` (WALLET) — the hold, the reservation (and its audit entry), the
-- lock, the debit, the ledger entry, the confirmation, the tickets, the transaction and its
-- report (and the buyer's notification) — with the same guards, on the server's own tables. Two
-- statements, one round trip each, each its own transaction (reserve and pay are two requests,
-- minutes apart for a person, so they cannot share one). Reads that only answer or authorize
-- (the session, the key lookups, the response) are not durable work and are left out.
--
-- Compare with checkout.sql (what the server sends today, 24 statements): run-baseline.sh runs
-- both and prints API ÷ minimal.
--
-- Each pgbench client is one buyer (user client_id + 1) buying one seat of a random ticket type
-- among 1,000 (100 events × 10 ticket types), as in checkout.sql.
\set uid :client_id + 1
\set t random(1, 1000)
\set k random(1, 1000000000000000)

-- ===== reserve: one statement =====
-- The hold is the same conditional UPDATE as the server's (seats left, nobody waiting); the
-- reservation and its `reservation.create` audit entry are written only if it took the seat.
WITH hold AS (
  UPDATE ticket_types SET available = available - 1
  WHERE id = bid(4, :t) AND available >= 1 AND waiting = 0
  RETURNING id, event_id, price_cents
), r AS (
  INSERT INTO reservations (id, user_id, event_id, ticket_type_id, quantity, amount_cents, status, expires_at, idempotency_key, created_at, updated_at, expiry_warned_at)
  SELECT bench_uuid7(), bid(1, :uid), event_id, id, 1, price_cents, 'PENDING', now() + interval '600 seconds', 'r-' || :k, now(), now(), NULL
  FROM hold
  RETURNING id, event_id
), audit AS (
  INSERT INTO audit_log (id, at, actor_id, action, target_type, target_id, event_id, request_id, client_address, detail)
  SELECT bench_uuid7(), now(), bid(1, :uid), 'reservation.create', 'reservation', r.id::text, r.event_id, 'req-' || :k, '127.0.0.1', '{"quantity":1,"amountCents":100,"status":"Pending"}'
  FROM r
)
SELECT id AS res_id FROM r \gset

-- ===== pay (WALLET): one statement =====
-- The confirmation's conditional UPDATE is the reservation's lock (PENDING and still held); the
-- debit is conditional on the balance; the transaction, the ledger entry, the tickets (one per
-- seat), the report (a constant payload of the server's size, ~1 KiB) and the notification
-- follow from them. If the hold or the debit did not happen, the last line divides by zero and
-- the whole statement, the confirmation included, is rolled back: all or nothing, as in `pay`.
WITH r AS (
  UPDATE reservations SET status = 'CONFIRMED', updated_at = now()
  WHERE id = :res_id AND status = 'PENDING' AND expires_at > now()
  RETURNING id, user_id, event_id, ticket_type_id, quantity, amount_cents
), w AS (
  UPDATE wallets SET balance_cents = balance_cents - r.amount_cents, updated_at = now()
  FROM r
  WHERE wallets.user_id = r.user_id AND wallets.balance_cents >= r.amount_cents
  RETURNING wallets.user_id, wallets.balance_cents
), tx AS (
  INSERT INTO transactions (id, user_id, event_id, reservation_id, kind, status, method, amount_cents, failure_reason, idempotency_key, success_key, gateway_charge_id, created_at)
  SELECT bench_uuid7(), r.user_id, r.event_id, r.id, 'PAYMENT', 'SUCCEEDED', 'WALLET', r.amount_cents, NULL, 'p-' || :k, 'p-' || :k, NULL, now()
  FROM r JOIN w ON w.user_id = r.user_id
  RETURNING id, user_id, event_id, reservation_id, amount_cents
), entry AS (
  INSERT INTO ledger_entries (id, user_id, transaction_id, amount_cents, balance_after_cents, created_at)
  SELECT bench_uuid7(), tx.user_id, tx.id, -tx.amount_cents, w.balance_cents, now()
  FROM tx JOIN w ON w.user_id = tx.user_id
), issued AS (
  INSERT INTO tickets (id, reservation_id, event_id, ticket_type_id, user_id, code, status, created_at, seat_id, holder_name, code_version, checked_in_at, checked_in_by)
  SELECT bench_uuid7(), r.id, r.event_id, r.ticket_type_id, r.user_id, bench_ticket_code(), 'VALID', now(), NULL, NULL, 1, NULL, NULL
  FROM r JOIN w ON w.user_id = r.user_id, generate_series(1, r.quantity)
), report AS (
  INSERT INTO transaction_reports (id, position, event_id, organizer_id, transaction_id, payload, created_at)
  SELECT bench_uuid7(), NULL, tx.event_id, bid(1, 0), tx.id, '{"transaction":{"id":"' || tx.id || '"},"payload":"' || repeat('x', 1000) || '"}', now()
  FROM tx
), note AS (
  INSERT INTO notifications (id, user_id, kind, message, reservation_id, event_id, created_at, read_at)
  SELECT bench_uuid7(), tx.user_id, 'RESERVATION_CONFIRMED', 'Your reservation of 1 seat(s) is confirmed; your tickets are ready.', tx.reservation_id, tx.event_id, now(), NULL
  FROM tx
)
SELECT 1 / (SELECT count(*)::int FROM w) AS paid;
