-- stage_runs gains the compute backend a run announced (lib/backend.ts): `wasm`, `cpu`,
-- `tensorflow (@tensorflow/tfjs-node-gpu)` or `webgpu (<adapter>; software adapter | hardware adapter)`.
ALTER TABLE stage_runs ADD COLUMN backend VARCHAR;
COMMENT ON COLUMN stage_runs.backend IS 'compute backend of the run: wasm, cpu, tensorflow (package) or webgpu (adapter name; software or hardware adapter); NULL when the stage set up none';
