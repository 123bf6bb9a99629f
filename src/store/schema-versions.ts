/** The schema version this code migrates each backend to: what `--version`, /healthz and bindery_build_info report. */
import { POSTGRES_SCHEMA_VERSION } from './postgres/postgres-schema.ts';
import { SQLITE_SCHEMA_VERSION } from './sqlite/sqlite-schema.ts';

export const SCHEMA_VERSIONS = { sqlite: SQLITE_SCHEMA_VERSION, postgres: POSTGRES_SCHEMA_VERSION } as const;
