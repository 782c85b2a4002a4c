-- Data for the pgbench baseline, in a database whose tables were made by `evenntify migrate`
-- (so tables, constraints and indexes are the server's own). Run with psql -v clients=N.
--
-- Ids are deterministic so the pgbench scripts can compute them from integers without an extra
-- round trip: bid(family, n) = 'ffffffff-0000-4000-8000-nnnnnnnnnnnn' where ffffffff is the family
-- in hex: 1 = user (0 is the organizer), 2 = session of user n, 3 = event, 4 = ticket type.
-- New rows get time-ordered UUIDv7 ids from bench_uuid7(), like the server's Uuid::now_v7().
\set ON_ERROR_STOP on

CREATE OR REPLACE FUNCTION bid(family int, n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT (lpad(to_hex(family), 8, '0') || '-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid
$$;

CREATE OR REPLACE FUNCTION bench_uuid7() RETURNS uuid
LANGUAGE sql VOLATILE AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              placing substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
              FROM 1 FOR 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;

-- Ticket codes: 12 characters, like the server's (uniqueness is enforced by tickets_code_key).
CREATE OR REPLACE FUNCTION bench_ticket_code() RETURNS text
LANGUAGE sql VOLATILE AS $$
  SELECT upper(substr(md5(random()::text || clock_timestamp()::text), 1, 12))
$$;

-- The organizer and one buyer per pgbench client, each with a live session and a full wallet.
INSERT INTO users (id, username, email, password_hash, role, created_at)
SELECT bid(1, n),
       CASE WHEN n = 0 THEN 'pgb-organizer' ELSE 'pgb-buyer-' || n END,
       NULL, '$argon2id$v=19$m=19456,t=2,p=1$not-a-real-hash', CASE WHEN n = 0 THEN 'ORGANIZER' ELSE 'USER' END,
       now()
FROM generate_series(0, :clients) AS n;

INSERT INTO sessions (id, user_id, created_at, revoked_at)
SELECT bid(2, n), bid(1, n), now(), NULL FROM generate_series(1, :clients) AS n;

INSERT INTO wallets (user_id, balance_cents, updated_at)
SELECT bid(1, n), 1000000000000, now() FROM generate_series(1, :clients) AS n;

-- 100 events × 10 ticket types = the 1,000 ticket types of the checkout scenario, plus event 101
-- with ticket type 1001: the hot row of the on-sale scenario (capacity large enough to never sell
-- out during a run, so its rate is measured at full contention).
INSERT INTO events (id, organizer_id, title, description, venue, starts_at, ends_at, status, created_at, updated_at)
SELECT bid(3, e), bid(1, 0), 'pgbench event ' || e, 'Created by bench/pgbench/prepare.sql.', 'Bench Hall',
       now() + interval '90 days', NULL, 'PUBLISHED', now(), now()
FROM generate_series(1, 101) AS e;

-- One session per event, with the event's id (as the sessions migration backfills).
INSERT INTO event_sessions (id, event_id, starts_at, ends_at, cancelled_at, created_at)
SELECT id, id, starts_at, ends_at, NULL, created_at FROM events WHERE title LIKE 'pgbench event %';

INSERT INTO ticket_types (id, event_id, session_id, position, name, price_cents, capacity, available)
SELECT bid(4, t), bid(3, (t - 1) / 10 + 1), bid(3, (t - 1) / 10 + 1), (t - 1) % 10, 'Tier ' || ((t - 1) % 10), 100, 1000000, 1000000
FROM generate_series(1, 1000) AS t;

INSERT INTO ticket_types (id, event_id, session_id, position, name, price_cents, capacity, available)
VALUES (bid(4, 1001), bid(3, 101), bid(3, 101), 0, 'Hot', 100, 100000000, 100000000);

VACUUM ANALYZE;
