-- Which scheduled run of a cron job has been taken, by whom: with several origin instances,
-- each one's scheduler fires on every tick, and the first to insert the tick's row runs it.
CREATE TABLE cron_runs (
    job TEXT NOT NULL,
    tick TIMESTAMPTZ NOT NULL,
    taken_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (job, tick)
);
