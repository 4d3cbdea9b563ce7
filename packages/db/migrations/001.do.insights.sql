-- Footfall insights schema, v1. See docs/insights.md for what each number means and docs/api.md for
-- how the API reads it. Written only by apps/sink (and erasure by apps/api).
--
-- Time-partitioned tables use native declarative partitioning: one partition per UTC day, named
-- `<table>_pYYYYMMDD`, created ahead by the sink for the days its records fall in; retention drops whole
-- partitions (no row deletes, no vacuum debt). There is deliberately no DEFAULT partition: attaching a
-- new day would then have to scan it.
--
-- Cells are H3 hex strings compared with COLLATE "C" (byte order), so SQL ORDER BY agrees with the
-- domain's tie-break ("cell id ascending, plain string order") and index order can serve top-K.

CREATE TABLE occupancy (
  cell          text COLLATE "C" NOT NULL,  -- H3 cell at CELL_RESOLUTION
  bucket_start  timestamptz NOT NULL,
  bucket_ms     integer     NOT NULL,
  region        text COLLATE "C" NOT NULL,  -- H3 parent at REGION_RESOLUTION (= Kafka partition key)
  lat           real        NOT NULL,       -- cell centre, for bounding-box filters
  lon           real        NOT NULL,
  devices       integer     NOT NULL,       -- distinct devices present in the bucket (raw, not k-anonymised)
  pings         integer     NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  -- INCLUDE devices: point lookups (API /v1/occupancy, batched) are index-only scans, no heap visit.
  -- Updates are never HOT anyway (updated_at is indexed), so the extra column costs nothing there.
  PRIMARY KEY (cell, bucket_start) INCLUDE (devices)
) PARTITION BY RANGE (bucket_start);

-- Top-K at a time: the busiest cells of one bucket, read in index order (LIMIT k stops early).
CREATE INDEX occupancy_bucket_devices ON occupancy (bucket_start, devices DESC, cell);
-- The live stream's shared poller: rows changed since its last tick.
CREATE INDEX occupancy_updated_at ON occupancy (updated_at);

CREATE TABLE visits (
  device_id  text COLLATE "C" NOT NULL,
  cell       text COLLATE "C" NOT NULL,
  start_at   timestamptz NOT NULL,
  end_at     timestamptz NOT NULL,
  region     text COLLATE "C" NOT NULL,
  pings      integer     NOT NULL,
  closed     boolean     NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device_id, cell, start_at),
  CHECK (end_at >= start_at)
) PARTITION BY RANGE (start_at);

-- "Where does this user spend time" and the visit list, by time range.
CREATE INDEX visits_device_start ON visits (device_id, start_at);

-- Users who asked to be forgotten: their visits were deleted and later visit records for them are
-- dropped by the sink. Occupancy counts are anonymous and stay (docs/api.md, "Erasure").
CREATE TABLE erased_devices (
  device_id      text COLLATE "C" PRIMARY KEY,
  erased_at      timestamptz NOT NULL DEFAULT now(),
  visits_deleted integer     NOT NULL DEFAULT 0
);
