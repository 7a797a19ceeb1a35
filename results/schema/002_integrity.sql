-- 002_integrity: what the database needs to stay derived from the published artifacts.
-- artifacts.manifest_sha256: sha256 of the manifest.json whose rows the database holds for (stage, key);
--   compared with the artifact on disk on every pipeline run.
-- stage_runs.status gains 'interrupted': a run whose process was stopped or is gone.

ALTER TABLE artifacts ADD COLUMN manifest_sha256 VARCHAR;

CREATE TABLE stage_runs_v2 (
  stage      VARCHAR NOT NULL,
  key        VARCHAR NOT NULL,
  profile    VARCHAR NOT NULL,
  params     JSON,
  status     VARCHAR NOT NULL CHECK (status IN ('running', 'success', 'failed', 'interrupted')),
  started_at TIMESTAMP NOT NULL,
  ended_at   TIMESTAMP,
  seconds    DOUBLE,
  git_commit VARCHAR,
  pid        INTEGER,
  log_path   VARCHAR,
  error      VARCHAR,
  PRIMARY KEY (stage, key)
);
INSERT INTO stage_runs_v2 SELECT * FROM stage_runs;
DROP TABLE stage_runs;
ALTER TABLE stage_runs_v2 RENAME TO stage_runs;
