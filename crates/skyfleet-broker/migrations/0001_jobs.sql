-- The broker's durable state. Portable SQL: the same text runs on SQLite and PostgreSQL.
-- Times are milliseconds since the Unix epoch (BIGINT); booleans are not used.

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    cluster TEXT,
    provider TEXT,
    gpus BIGINT NOT NULL,
    usd_per_gpu_hour DOUBLE PRECISION,
    attempt BIGINT NOT NULL,
    handle TEXT,
    reason TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    UNIQUE (tenant, idempotency_key)
);
CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_tenant_created ON jobs (tenant, created_ms);

-- Every accepted transition, in order.
CREATE TABLE job_events (
    job_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    event TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    cluster TEXT,
    attempt BIGINT NOT NULL,
    detail TEXT
);
CREATE UNIQUE INDEX job_events_job_seq ON job_events (job_id, seq);

-- Copies of a job that may still run on a cluster that went down (or could not be reached to
-- cancel); cancelled there when it answers again.
CREATE TABLE stale_copies (
    job_id TEXT NOT NULL,
    cluster TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    handle TEXT,
    PRIMARY KEY (job_id, cluster, attempt)
);

-- Each stretch of time a job ran on a cluster: the source of cost and GPU-hours over time.
CREATE TABLE runs (
    job_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    cluster TEXT NOT NULL,
    provider TEXT NOT NULL,
    gpus BIGINT NOT NULL,
    usd_per_gpu_hour DOUBLE PRECISION NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT,
    PRIMARY KEY (job_id, attempt)
);

-- Clusters the admin drained: placement sends them nothing new.
CREATE TABLE drained (
    cluster TEXT PRIMARY KEY
);
