-- 003_comments: descriptions of the core tables and their columns, shown by `deno task query --schema`.

COMMENT ON TABLE schema_migrations IS 'schema migrations applied to this database (results/schema/NNN_name.sql)';
COMMENT ON COLUMN schema_migrations.version IS 'migration number (the NNN prefix)';
COMMENT ON COLUMN schema_migrations.name IS 'migration name';
COMMENT ON COLUMN schema_migrations.applied_at IS 'when it was applied (UTC)';

COMMENT ON TABLE stage_runs IS 'one row per stage run (stage, key); a rerun of the same key replaces it';
COMMENT ON COLUMN stage_runs.stage IS 'stage name';
COMMENT ON COLUMN stage_runs.key IS 'artifact key: hash of stage, version, params and upstream keys';
COMMENT ON COLUMN stage_runs.profile IS 'profile the run used (smoke, default, paper)';
COMMENT ON COLUMN stage_runs.params IS 'resolved params (JSON)';
COMMENT ON COLUMN stage_runs.status IS 'running, success, failed or interrupted (the process was stopped or is gone)';
COMMENT ON COLUMN stage_runs.started_at IS 'start (UTC)';
COMMENT ON COLUMN stage_runs.ended_at IS 'end (UTC); NULL while running';
COMMENT ON COLUMN stage_runs.seconds IS 'wall time of the run in seconds';
COMMENT ON COLUMN stage_runs.git_commit IS 'commit of the code that ran; NULL when unknown';
COMMENT ON COLUMN stage_runs.pid IS 'process id of the pipeline that ran it';
COMMENT ON COLUMN stage_runs.log_path IS 'log file of the run (results/logs/<stage>-<key>.log)';
COMMENT ON COLUMN stage_runs.error IS 'error message of a failed run';

COMMENT ON TABLE artifacts IS 'one row per published artifact (results/artifacts/<stage>/<key>/)';
COMMENT ON COLUMN artifacts.stage IS 'stage name';
COMMENT ON COLUMN artifacts.key IS 'artifact key (as in stage_runs)';
COMMENT ON COLUMN artifacts.profile IS 'profile of the run that produced it';
COMMENT ON COLUMN artifacts.path IS 'artifact directory';
COMMENT ON COLUMN artifacts.files IS 'number of files';
COMMENT ON COLUMN artifacts.bytes IS 'total size in bytes';
COMMENT ON COLUMN artifacts.created_at IS 'publication time (UTC)';

COMMENT ON TABLE bench IS 'one row per benchmark per deno task bench run';
COMMENT ON COLUMN bench.run_id IS 'UUID shared by the rows of one invocation';
COMMENT ON COLUMN bench.name IS 'bench name (--filter matches group/name)';
COMMENT ON COLUMN bench.group_name IS 'bench group';
COMMENT ON COLUMN bench.median_ms IS 'median wall time of one iteration (ms)';
COMMENT ON COLUMN bench.min_ms IS 'fastest iteration (ms)';
COMMENT ON COLUMN bench.max_ms IS 'slowest iteration (ms)';
COMMENT ON COLUMN bench.iterations IS 'timed iterations';
COMMENT ON COLUMN bench.unit IS 'what one iteration processes (e.g. 100k rows)';
COMMENT ON COLUMN bench.extra IS 'extra metrics the bench returned (JSON)';
COMMENT ON COLUMN bench.backend IS 'compute backend exercised, when relevant';
COMMENT ON COLUMN bench.machine IS 'cpu, cores, memoryBytes, os, arch, deno, v8 (JSON)';
COMMENT ON COLUMN bench.git_commit IS 'commit benchmarked';
COMMENT ON COLUMN bench.created_at IS 'when the rows were written (UTC)';
COMMENT ON COLUMN artifacts.manifest_sha256 IS 'sha256 of the manifest.json whose rows the database holds (checked against the artifact on every run)';
