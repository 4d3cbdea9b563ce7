-- The live edge of named places (docs/places.md, "Live edge"): the provisional distinct-device count of
-- each recent (place, bucket), with presence carried to now and the region's reporting-delay nowcast.
-- Written only by apps/sink from the processor's `liveplace:` records (latest computed_at wins); never
-- touches `place_occupancy`, whose counts stay the exact final values. Raw numbers: the API applies
-- k-anonymity to every one of them. The sink deletes rows whose final_at is over an hour old.

CREATE TABLE place_occupancy_live (
  place_id       text COLLATE "C" NOT NULL,
  bucket_start   timestamptz NOT NULL,
  bucket_ms      integer     NOT NULL,
  region         text COLLATE "C" NOT NULL,
  observed       integer     NOT NULL,  -- distinct devices with presence carried to now (>= confirmed)
  confirmed      integer     NOT NULL,  -- distinct devices established by pings already arrived
  estimate       integer     NOT NULL,  -- nowcast of the eventual count
  lower          integer     NOT NULL,  -- interval of the nowcast
  upper          integer     NOT NULL,
  completeness   real        NOT NULL,  -- estimated fraction of the bucket's pings arrived (0..1)
  final_at       timestamptz NOT NULL,  -- when the bucket stops being provisional
  computed_at    timestamptz NOT NULL,  -- the processor clock's "now" of this value
  version        integer     NOT NULL,  -- place definition version counted with
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (place_id, bucket_start)
);

-- Popular places of a provisional bucket, by estimate, read in index order.
CREATE INDEX place_occupancy_live_bucket_estimate ON place_occupancy_live (bucket_start, estimate DESC, place_id);
CREATE INDEX place_occupancy_live_final_at ON place_occupancy_live (final_at);

-- The public place list by name prefix, in name order, reads only its page: a byte-order (C) index on
-- the lower-cased name and id serves both the prefix (as a range) and the ORDER BY with LIMIT (the
-- text_pattern_ops index of 003 serves the prefix only, so every match was fetched and sorted).
CREATE INDEX places_name_c ON places ((lower(name) COLLATE "C"), id);
