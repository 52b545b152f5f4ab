-- The first schema. Written once for SQLite and PostgreSQL: `{{id}}` is the only dialect
-- difference (an auto-assigned 64-bit primary key) and is expanded by src/migrations.rs.
-- Times are INTEGER milliseconds since the Unix epoch (UTC); JSON and YAML are TEXT; floats are
-- DOUBLE PRECISION (8 bytes in both). Statements are separated by semicolons at line ends.

CREATE TABLE tokens (
    id {{id}},
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE portfolios (
    id {{id}},
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- Immutable: an update inserts the next version.
CREATE TABLE portfolio_versions (
    id {{id}},
    portfolio_id BIGINT NOT NULL REFERENCES portfolios (id),
    version BIGINT NOT NULL,
    yaml TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    UNIQUE (portfolio_id, version)
);

-- Each version is a whole override file; the latest one is in force.
CREATE TABLE catalog_overrides (
    id {{id}},
    version BIGINT NOT NULL UNIQUE,
    csv TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);

CREATE TABLE plans (
    id {{id}},
    portfolio_version_id BIGINT NOT NULL REFERENCES portfolio_versions (id),
    -- The override version the plan was made with (NULL: the built-in catalog alone).
    catalog_override_id BIGINT REFERENCES catalog_overrides (id),
    catalog_sha256 TEXT NOT NULL,
    status TEXT NOT NULL,
    objective_usd_per_month DOUBLE PRECISION NOT NULL,
    plan_json TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);

CREATE INDEX plans_by_portfolio_version ON plans (portfolio_version_id);

CREATE TABLE jobs (
    id {{id}},
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    progress DOUBLE PRECISION NOT NULL,
    portfolio_version_id BIGINT NOT NULL REFERENCES portfolio_versions (id),
    catalog_override_id BIGINT REFERENCES catalog_overrides (id),
    params_json TEXT NOT NULL,
    result_json TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);

CREATE INDEX jobs_by_status ON jobs (status);
