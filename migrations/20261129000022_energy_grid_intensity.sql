-- Live grid intensity (Electricity Maps, optional): one value per zone and UTC hour, fetched
-- hourly from /v3/carbon-intensity/latest. Hours with a value use it for CO2e; other hours use
-- the yearly table (docs/ENERGY.md, "Carbon").
CREATE TABLE energy_grid_intensity (
    zone                  TEXT NOT NULL CHECK (char_length(zone) BETWEEN 1 AND 64),
    hour                  TIMESTAMPTZ NOT NULL,
    grams_co2e_per_kwh    DOUBLE PRECISION NOT NULL
                          CHECK (grams_co2e_per_kwh >= 0 AND grams_co2e_per_kwh <= 5000),
    emission_factor_type  TEXT,
    is_estimated          BOOLEAN,
    estimation_method     TEXT,
    fetched_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (zone, hour)
);
