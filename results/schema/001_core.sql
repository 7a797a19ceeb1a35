-- 001_core: bookkeeping tables of the pipeline and the bench harness.
-- Applied by pipeline/store.ts in one transaction; recorded in schema_migrations.

CREATE TABLE stage_runs (
  stage      VARCHAR NOT NULL,
  key        VARCHAR NOT NULL,
  profile    VARCHAR NOT NULL,
  params     JSON,
  status     VARCHAR NOT NULL CHECK (status IN ('running', 'success', 'failed')),
  started_at TIMESTAMP NOT NULL,
  ended_at   TIMESTAMP,
  seconds    DOUBLE,
  git_commit VARCHAR,
  pid        INTEGER,
  log_path   VARCHAR,
  error      VARCHAR,
  PRIMARY KEY (stage, key)
);

CREATE TABLE artifacts (
  stage      VARCHAR NOT NULL,
  key        VARCHAR NOT NULL,
  profile    VARCHAR NOT NULL,
  path       VARCHAR NOT NULL,
  files      INTEGER NOT NULL,
  bytes      BIGINT NOT NULL,
  created_at TIMESTAMP NOT NULL,
  PRIMARY KEY (stage, key)
);

CREATE TABLE bench (
  run_id     VARCHAR NOT NULL,
  name       VARCHAR NOT NULL,
  group_name VARCHAR NOT NULL,
  median_ms  DOUBLE NOT NULL,
  min_ms     DOUBLE NOT NULL,
  max_ms     DOUBLE NOT NULL,
  iterations INTEGER NOT NULL,
  unit       VARCHAR,
  extra      JSON,
  backend    VARCHAR,
  machine    JSON,
  git_commit VARCHAR,
  created_at TIMESTAMP NOT NULL
);
