-- Plans over time (a portfolio with a `horizon:`): how many months the plan covers. NULL for a
-- plan of one period; `plan_json` is then a single-period plan, otherwise a plan by period.

ALTER TABLE plans ADD COLUMN horizon_months BIGINT;
