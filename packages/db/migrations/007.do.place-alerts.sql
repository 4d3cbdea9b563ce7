-- Crowd alerts on named places (docs/alerts.md, "Targets"): a subscription watches exactly one of an H3
-- cell or a place (migration 003). Existing rows all name a cell, so they satisfy the new CHECK as they
-- are. place_id is not a foreign key, like place_occupancy: deleting a place leaves its subscriptions
-- (they simply see no more counts, as a cell nobody visits); the API refuses unknown places at creation.

ALTER TABLE alert_subscriptions ADD COLUMN place_id text COLLATE "C";
ALTER TABLE alert_subscriptions ALTER COLUMN cell DROP NOT NULL;
ALTER TABLE alert_subscriptions
  ADD CONSTRAINT alert_subscriptions_one_target CHECK (num_nonnulls(cell, place_id) = 1);

-- The latest two buckets' distinct-device counts of each place in a region some subscription watches
-- (the `place:` PlaceOccupancy records; raw, never served): alert_cell_counts' twin for places.
CREATE TABLE alert_place_counts (
  place_id        text COLLATE "C" PRIMARY KEY,
  region          text COLLATE "C" NOT NULL,
  bucket_start_ms bigint NOT NULL,
  devices         integer NOT NULL,
  prev_bucket_start_ms bigint,
  prev_devices    integer
);
CREATE INDEX alert_place_counts_region ON alert_place_counts (region);
