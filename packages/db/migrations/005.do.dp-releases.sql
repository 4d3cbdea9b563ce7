-- Differential-privacy mode (PRIVACY_MODE=dp; docs/privacy.md, "Differential privacy"). Written only by
-- the API's release store (apps/api/src/privacy/). Empty and unused in k-anonymity mode.
--
-- A bucket is released ONCE: its noisy counts are stored and every later question about that bucket
-- (point, series, top-K, roll-ups, the live stream, on any API instance) is answered from the stored
-- release, so asking again cannot average the noise away. Only cells whose noisy count reached the
-- threshold are stored; a cell below it is not stored and reads exactly like an empty cell.

CREATE TABLE dp_bucket_releases (
  bucket_start  timestamptz PRIMARY KEY,
  bucket_ms     integer     NOT NULL,
  period_start  date        NOT NULL,       -- release period (UTC day of bucket_start) charged
  family        text        NOT NULL,       -- query family whose question triggered the release
  epsilon       numeric     NOT NULL,
  delta         numeric     NOT NULL,
  threshold     integer     NOT NULL,       -- noisy counts below this were not released
  cells         integer     NOT NULL,       -- cells released
  released_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dp_releases (
  bucket_start  timestamptz NOT NULL REFERENCES dp_bucket_releases (bucket_start),
  cell          text COLLATE "C" NOT NULL,
  region        text COLLATE "C" NOT NULL,
  lat           real        NOT NULL,
  lon           real        NOT NULL,
  devices       integer     NOT NULL,       -- the noisy count (>= threshold)
  PRIMARY KEY (bucket_start, cell)
);
-- Series of one cell over a range.
CREATE INDEX dp_releases_cell ON dp_releases (cell, bucket_start);

-- The budget ledger: ε and δ spent per release period and query family (basic sequential composition:
-- the period's spend is the sum of its rows). A release that would take the period's sum past the
-- configured budget is refused (API_PRIVACY_BUDGET_EXHAUSTED).
CREATE TABLE dp_budget_ledger (
  period_start  date    NOT NULL,
  family        text    NOT NULL,
  epsilon_spent numeric NOT NULL DEFAULT 0,
  delta_spent   numeric NOT NULL DEFAULT 0,
  releases      integer NOT NULL DEFAULT 0,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (period_start, family)
);
