-- The live edge (docs/insights.md, "Live edge"): the provisional value of each recent (cell, bucket),
-- with presence carried to now and the reporting-delay nowcast. Written only by apps/sink from the
-- processor's `live:` records (latest wins); never touches `occupancy`, whose counts stay the
-- deterministic, exactly-once final values. Raw numbers: the API applies k-anonymity to all of them.
-- Rows are only useful until final_at; the sink deletes rows whose final_at is over an hour old.

CREATE TABLE occupancy_live (
  cell           text COLLATE "C" NOT NULL,
  bucket_start   timestamptz NOT NULL,
  bucket_ms      integer     NOT NULL,
  region         text COLLATE "C" NOT NULL,
  lat            real        NOT NULL,
  lon            real        NOT NULL,
  observed       integer     NOT NULL,  -- devices with presence carried to now (>= confirmed)
  confirmed      integer     NOT NULL,  -- devices established by pings already arrived
  estimate       integer     NOT NULL,  -- nowcast of the eventual count
  lower          integer     NOT NULL,  -- interval of the nowcast
  upper          integer     NOT NULL,
  completeness   real        NOT NULL,  -- estimated fraction of the bucket's pings arrived (0..1)
  final_at       timestamptz NOT NULL,  -- when the bucket stops being provisional
  computed_at    timestamptz NOT NULL,  -- the processor clock's "now" of this value
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cell, bucket_start)
);

-- Top-K of a provisional bucket by estimate; the live stream's poller (rows changed since its tick).
CREATE INDEX occupancy_live_bucket_estimate ON occupancy_live (bucket_start, estimate DESC, cell);
CREATE INDEX occupancy_live_updated_at ON occupancy_live (updated_at);
CREATE INDEX occupancy_live_final_at ON occupancy_live (final_at);
