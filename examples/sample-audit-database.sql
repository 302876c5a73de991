-- The sample "SQL audit service" database of the demo: configuration tables plus a large append-mostly audit log
-- whose text compresses about as well as real logs do.
-- psql -v rows=50000 -f sample-audit-database.sql DBNAME
\set ON_ERROR_STOP on
\if :{?rows}
\else
  \set rows 50000
\endif

CREATE TABLE IF NOT EXISTS checker_config (
  id          serial PRIMARY KEY,
  checker     text NOT NULL UNIQUE,
  enabled     boolean NOT NULL DEFAULT true,
  settings    jsonb NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS whitelist_rules (
  id          serial PRIMARY KEY,
  pattern     text NOT NULL,
  db_user     text,
  reason      text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS audit_events (
  id            bigserial PRIMARY KEY,
  occurred_at   timestamptz NOT NULL,
  app           text NOT NULL,
  db_user       text NOT NULL,
  client_addr   inet,
  statement     text NOT NULL,
  duration_ms   double precision,
  rows_affected integer,
  verdict       text NOT NULL,
  details       jsonb
);

INSERT INTO checker_config (checker, settings)
SELECT 'checker_' || g, jsonb_build_object('threshold', g * 10, 'mode', (ARRAY['warn','block','log'])[1 + g % 3])
FROM generate_series(1, 200) g
ON CONFLICT DO NOTHING;

INSERT INTO whitelist_rules (pattern, db_user, reason)
SELECT 'SELECT .* FROM t_' || g || ' WHERE .*', 'user_' || (g % 97), 'approved change ' || md5(g::text)
FROM generate_series(1, 5000) g;

INSERT INTO audit_events (occurred_at, app, db_user, client_addr, statement, duration_ms, rows_affected, verdict, details)
SELECT now() - random() * interval '30 days',
       (ARRAY['billing','crm','reporting','etl','web','mobile'])[1 + floor(random() * 6)::int],
       'user_' || floor(random() * 500)::int,
       ('10.' || floor(random() * 255)::int || '.' || floor(random() * 255)::int || '.' || floor(random() * 255)::int)::inet,
       format((ARRAY['SELECT %s FROM %s WHERE id = %s',
                     'UPDATE %2$s SET %1$s = now() WHERE id = %3$s',
                     'DELETE FROM %2$s WHERE %1$s < %3$s',
                     'INSERT INTO %2$s (%1$s) VALUES (%3$s)'])[1 + floor(random() * 4)::int],
              (ARRAY['status','amount','owner','payload','created_at'])[1 + floor(random() * 5)::int],
              't_' || floor(random() * 300)::int,
              floor(random() * 1e7)::bigint) || ' /* ' || md5(random()::text) || ' */',
       random() * 1000,
       floor(random() * 10000)::int,
       (ARRAY['allow','allow','allow','deny','review'])[1 + floor(random() * 5)::int],
       jsonb_build_object('session', md5(random()::text), 'pid', floor(random() * 65536)::int,
                          'tags', jsonb_build_array('t' || floor(random() * 20)::int))
FROM generate_series(1, :rows);

CREATE INDEX IF NOT EXISTS audit_events_occurred_at ON audit_events (occurred_at);
ANALYZE;
