// The tracking store's schema, as an ordered list of migrations. PRAGMA user_version holds how many
// have been applied; opening a store applies the missing ones, each in its own transaction, so a
// store written by an older Nabla is upgraded in place and a crash mid-migration leaves the
// previous version intact. A store from a newer Nabla (user_version beyond this list) is refused.

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'runs, metrics, system samples, evaluations, artefacts',
    sql: `
      CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'stopped')),
        created_at REAL NOT NULL,
        ended_at REAL,
        heartbeat_at REAL NOT NULL,
        pid INTEGER,
        host TEXT,
        config TEXT NOT NULL DEFAULT '{}',
        code_version TEXT,
        package_version TEXT,
        dataset TEXT,
        dataset_hash TEXT,
        run_dir TEXT,
        error TEXT,
        step INTEGER NOT NULL DEFAULT 0,
        epoch INTEGER NOT NULL DEFAULT 0,
        summary TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX runs_created ON runs (created_at);
      CREATE TABLE metrics (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        scope TEXT NOT NULL CHECK (scope IN ('step', 'epoch')),
        key TEXT NOT NULL,
        step INTEGER NOT NULL,
        epoch INTEGER,
        value REAL,
        time REAL NOT NULL
      );
      CREATE INDEX metrics_series ON metrics (run_id, scope, key, step);
      CREATE TABLE system (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        time REAL NOT NULL,
        step INTEGER,
        cpu_percent REAL,
        rss_bytes INTEGER,
        heap_bytes INTEGER
      );
      CREATE INDEX system_run ON system (run_id, time);
      CREATE TABLE evaluations (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        split TEXT NOT NULL,
        metrics TEXT NOT NULL,
        classes TEXT,
        confusion TEXT,
        time REAL NOT NULL,
        PRIMARY KEY (run_id, split)
      );
      CREATE TABLE artifacts (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        path TEXT NOT NULL,
        time REAL NOT NULL,
        PRIMARY KEY (run_id, kind, path)
      );
    `,
  },
  {
    version: 2,
    description: 'model registry: versions of named models with stages; a counter bumped on every change',
    sql: `
      CREATE TABLE models (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,
        path TEXT NOT NULL,
        stage TEXT NOT NULL DEFAULT 'none' CHECK (stage IN ('none', 'staging', 'production', 'archived')),
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (name, version)
      );
      CREATE TABLE store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT INTO store_meta (key, value) VALUES ('registry_version', 0);
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;
