-- Named places (docs/places.md): the registry (written by apps/api, operator only) and the per-place
-- aggregates written by apps/sink from `aggregated` (PlaceOccupancy records).

CREATE TABLE places (
  id                text COLLATE "C" PRIMARY KEY,    -- UUID chosen by the API
  name              text        NOT NULL,
  category          text        NOT NULL,
  geometry          jsonb       NOT NULL,            -- GeoJSON Polygon or MultiPolygon (WGS 84, [lon, lat])
  cells             text[] COLLATE "C" NOT NULL,     -- H3 cells at CELL_RESOLUTION (centre inside)
  region            text COLLATE "C" NOT NULL,       -- H3 cell at REGION_RESOLUTION holding every cell
  -- bounding box of the geometry, degrees (GET /v1/places?bbox=)
  min_lon           double precision NOT NULL,
  min_lat           double precision NOT NULL,
  max_lon           double precision NOT NULL,
  max_lat           double precision NOT NULL,
  effective_from    timestamptz NOT NULL,            -- first bucket this version applies to
  version           integer     NOT NULL DEFAULT 1,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX places_name ON places (lower(name) text_pattern_ops);
CREATE INDEX places_bbox ON places (min_lon, max_lon, min_lat, max_lat);
-- Which places contain a cell (visits per place are read through this).
CREATE INDEX places_cells ON places USING gin (cells);

-- Distinct devices per (place, bucket), raw (the API applies K_ANONYMITY). Not a foreign key: the
-- stream may deliver counts of a place the registry just deleted (they are then simply never read).
CREATE TABLE place_occupancy (
  place_id      text COLLATE "C" NOT NULL,
  bucket_start  timestamptz NOT NULL,
  bucket_ms     integer     NOT NULL,
  devices       integer     NOT NULL,
  version       integer     NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (place_id, bucket_start) INCLUDE (devices)
);
-- Popular places of one bucket, read in index order.
CREATE INDEX place_occupancy_bucket_devices ON place_occupancy (bucket_start, devices DESC, place_id);

-- A place's visits (dwell, visits per place) are read by cell and time; without this every partition
-- of `visits` would be scanned (its only other index is by device).
CREATE INDEX visits_cell_start ON visits (cell, start_at);

-- Outbox of place definitions not yet acknowledged by Kafka (`places` topic): written in the same
-- transaction as the registry change, deleted once published; swept on API start.
CREATE TABLE places_outbox (
  place_id    text COLLATE "C" PRIMARY KEY,
  queued_at   timestamptz NOT NULL DEFAULT now()
);
