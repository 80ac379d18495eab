-- Request counts per service and interval, supplied through the API
-- (POST /api/v1/energy/request-counts), for the SCI per request (docs/ENERGY.md, "SCI").
-- Intervals are whole UTC hours so the energy of exactly the covered hours can be read from the
-- hourly rollup. Re-sending the same interval replaces its count (idempotent); an interval that
-- overlaps another one of the same service is refused, so no request is counted twice.
CREATE TABLE energy_request_counts (
    service_id   BIGINT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    start_at     TIMESTAMPTZ NOT NULL,
    end_at       TIMESTAMPTZ NOT NULL,
    requests     BIGINT NOT NULL CHECK (requests >= 0),
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (service_id, start_at),
    CHECK (end_at > start_at)
);
