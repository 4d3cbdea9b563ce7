-- Crowd alerts (docs/alerts.md). Subscriptions are written by the API (operator only); apps/alerts
-- evaluates them against `aggregated` and writes fired alerts to the `alert_events` outbox, in the same
-- transaction as its evaluation state and its consumer offsets (alert_offsets), so a restart neither
-- loses nor repeats an alert. Webhook delivery works off the outbox (next_attempt_at), so a restart
-- loses no pending delivery.

CREATE TABLE alert_subscriptions (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind          text NOT NULL CHECK (kind IN ('above', 'below', 'enters_top', 'leaves_top')),
  cell          text COLLATE "C" NOT NULL,   -- H3 cell at CELL_RESOLUTION (places: a later target type)
  region        text COLLATE "C" NOT NULL,   -- the cell's region (H3 parent at REGION_RESOLUTION)
  threshold     integer NOT NULL,            -- N devices, or K of top-K
  hysteresis    integer NOT NULL CHECK (hysteresis >= 0),
  webhook_url   text,                        -- null: SSE / polling only
  webhook_secret text,                       -- whsec_… (Standard Webhooks); shown once, at creation
  created_at    timestamptz NOT NULL DEFAULT now(),
  -- Evaluation state, written only by apps/alerts: the side of the rule last seen (null = no baseline).
  condition     boolean,
  evaluated_at  timestamptz,
  fired         integer NOT NULL DEFAULT 0   -- alerts fired so far (also the sequence in event ids)
);
CREATE INDEX alert_subscriptions_region ON alert_subscriptions (region);

-- The outbox. id is the webhook-id (idempotency key) a receiver deduplicates on.
CREATE TABLE alert_events (
  seq             bigserial PRIMARY KEY,         -- order for SSE (Last-Event-ID) and listings
  id              text COLLATE "C" NOT NULL UNIQUE,
  subscription_id uuid NOT NULL REFERENCES alert_subscriptions (id) ON DELETE CASCADE,
  payload         jsonb NOT NULL,                -- k-anonymised (docs/alerts.md)
  source_at       timestamptz NOT NULL,          -- the aggregated record's timestamp (latency origin)
  created_at      timestamptz NOT NULL DEFAULT now(),
  delivery        text NOT NULL CHECK (delivery IN ('none', 'pending', 'delivered', 'dead')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  last_error      text,
  delivered_at    timestamptz
);
CREATE INDEX alert_events_due ON alert_events (next_attempt_at) WHERE delivery = 'pending';
CREATE INDEX alert_events_subscription ON alert_events (subscription_id, seq);

-- The evaluator's consumer offsets, written in the same transaction as its events: the next offset to
-- evaluate per partition. Records below it were already evaluated (they are skipped when re-read).
CREATE TABLE alert_offsets (
  group_id    text NOT NULL,
  topic       text NOT NULL,
  partition   integer NOT NULL,
  next_offset bigint NOT NULL,
  PRIMARY KEY (group_id, topic, partition)
);

-- The latest two buckets' counts of each cell in a region some subscription watches (raw; never served).
CREATE TABLE alert_cell_counts (
  cell            text COLLATE "C" PRIMARY KEY,
  region          text COLLATE "C" NOT NULL,
  bucket_start_ms bigint NOT NULL,
  devices         integer NOT NULL,
  prev_bucket_start_ms bigint,
  prev_devices    integer
);
CREATE INDEX alert_cell_counts_region ON alert_cell_counts (region);
