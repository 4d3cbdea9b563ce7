-- Footfall insights schema, v1. See docs/insights.md for what each number means.
-- Time-partitioned tables use native declarative partitioning (one partition per UTC day, created
-- ahead by the sink; retention drops whole partitions).

CREATE TABLE occupancy (
  cell          text        NOT NULL,  -- H3 cell at CELL_RESOLUTION
  bucket_start  timestamptz NOT NULL,
  bucket_ms     integer     NOT NULL,
  region        text        NOT NULL,  -- H3 parent at REGION_RESOLUTION (= Kafka partition key)
  devices       integer     NOT NULL,  -- distinct devices present in the bucket
  pings         integer     NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cell, bucket_start)
) PARTITION BY RANGE (bucket_start);

-- Top-K at a time: the busiest cells of one bucket, read in index order.
CREATE INDEX occupancy_bucket_devices ON occupancy (bucket_start, devices DESC, cell);

CREATE TABLE visits (
  device_id  text        NOT NULL,
  cell       text        NOT NULL,
  start_at   timestamptz NOT NULL,
  end_at     timestamptz NOT NULL,
  region     text        NOT NULL,
  pings      integer     NOT NULL,
  closed     boolean     NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device_id, cell, start_at),
  CHECK (end_at >= start_at)
) PARTITION BY RANGE (start_at);

-- "Where does this user spend time" and the visit list, by time range.
CREATE INDEX visits_device_start ON visits (device_id, start_at);

-- Users who asked to be forgotten: later records for them are dropped by the sink.
CREATE TABLE erased_devices (
  device_id  text PRIMARY KEY,
  erased_at  timestamptz NOT NULL DEFAULT now()
);
