//! How every figure reads, on the pages and in the e-mails: energy, CO2e and power with three
//! significant figures in the unit that puts the number in [1, 1000), durations, and times.
//!
//! One rule, so the same quantity never reads "0.000 kWh" on one line and "7.0 mWh" on the next:
//!
//! - The value is rounded to three significant figures first, and the unit is chosen after
//!   rounding: 999 Wh reads `999 Wh`, 999.5 Wh and 1000 Wh read `1.00 kWh`.
//! - Energy steps through mWh, Wh, kWh, MWh and GWh; CO2e through mg, g, kg and t; power through
//!   mW, W, kW and MW. Below the smallest unit the number keeps three significant figures
//!   (`0.500 mWh`) down to 0.001 of that unit, and reads `< 0.001 mWh` under it; above the
//!   largest it is written whole (`1234 GWh`).
//! - Zero reads `0 Wh`, `0 g CO2e`, `0 W`: the sum of what was reported is exactly zero, or
//!   nothing was reported in the period (the pages say which where it matters).
//! - A negative, NaN or infinite value is refused with [`FigureError`]: the caller decides what
//!   to show (the pages show [`refused`]'s text), nothing panics. Changes between periods are
//!   the one signed figure and have their own function, [`energy_change`].

use std::fmt;

use time::{macros::format_description, OffsetDateTime, UtcOffset};

/// Why a figure cannot be shown.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum FigureError {
    #[error("a negative {quantity} ({value}) cannot be shown")]
    Negative { quantity: Quantity, value: f64 },
    #[error("a {quantity} that is not a number ({value}) cannot be shown")]
    NotFinite { quantity: Quantity, value: f64 },
}

/// What a figure measures, and the units it steps through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    Energy,
    Co2e,
    Power,
}

impl Quantity {
    /// Units from the smallest, each 1000 times the one before, and the index of the unit zero
    /// is written in.
    fn units(self) -> (&'static [&'static str], usize) {
        match self {
            Self::Energy => (&["mWh", "Wh", "kWh", "MWh", "GWh"], 1),
            Self::Co2e => (&["mg CO2e", "g CO2e", "kg CO2e", "t CO2e"], 1),
            Self::Power => (&["mW", "W", "kW", "MW"], 1),
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Energy => "energy",
            Self::Co2e => "CO2e",
            Self::Power => "power",
        })
    }
}

/// `value` rounded to three significant figures (`value` > 0), halves away from zero.
///
/// The sum is nudged up by one part in 10^12 first: a figure computed in binary is often a hair
/// under the decimal half it stands for (0.5 kWh × 481 × 1.2 / 4 is 72.149999999999991, not
/// 72.15), and a person computing it by hand rounds that half up. No measurement is that exact.
fn three_figures(value: f64) -> f64 {
    let decimals = 2 - value.log10().floor() as i32;
    let scale = 10f64.powi(decimals);
    (value * scale * (1.0 + 1e-12)).round() / scale
}

/// Decimals that show three significant figures of an already rounded value.
fn decimals_for(rounded: f64) -> usize {
    (2 - rounded.log10().floor() as i32).max(0) as usize
}

/// `value` in the smallest unit of `quantity`, written by the rule in the module docs.
fn write(quantity: Quantity, value_in_smallest: f64, original: f64) -> Result<String, FigureError> {
    if !original.is_finite() {
        return Err(FigureError::NotFinite {
            quantity,
            value: original,
        });
    }
    if original < 0.0 {
        return Err(FigureError::Negative {
            quantity,
            value: original,
        });
    }
    let (units, zero_unit) = quantity.units();
    if value_in_smallest == 0.0 {
        return Ok(format!("0 {}", units[zero_unit]));
    }
    let mut index = 0;
    let mut value = value_in_smallest;
    while value >= 1000.0 && index + 1 < units.len() {
        value /= 1000.0;
        index += 1;
    }
    if value < 0.001 {
        return Ok(format!("< 0.001 {}", units[index]));
    }
    if value >= 1000.0 {
        return Ok(format!("{value:.0} {}", units[index]));
    }
    let mut rounded = three_figures(value);
    if rounded >= 1000.0 && index + 1 < units.len() {
        // 999.5 rounds to 1000: the next unit up, where it reads 1.00.
        rounded /= 1000.0;
        index += 1;
    }
    let decimals = decimals_for(rounded);
    Ok(format!("{rounded:.decimals$} {}", units[index]))
}

/// Energy given in kWh: `289 Wh`, `1.00 kWh`, `3.33 mWh`, `0 Wh`.
pub fn energy(kwh: f64) -> Result<String, FigureError> {
    write(Quantity::Energy, kwh * 1e6, kwh)
}

/// CO2e given in grams: `289 g CO2e`, `12.3 kg CO2e`, `1.92 mg CO2e`, `0 g CO2e`.
pub fn co2e(grams: f64) -> Result<String, FigureError> {
    write(Quantity::Co2e, grams * 1e3, grams)
}

/// Power given in watts: `2.96 W`, `690 mW`, `1.20 kW`, `0 W`.
pub fn power(watts: f64) -> Result<String, FigureError> {
    write(Quantity::Power, watts * 1e3, watts)
}

/// A change of energy between two periods, in kWh, signed: `+250 Wh`, `-100 Wh`, `+0 Wh`.
pub fn energy_change(delta_kwh: f64) -> Result<String, FigureError> {
    let sign = if delta_kwh < 0.0 { "-" } else { "+" };
    energy(delta_kwh.abs())
        .map(|text| format!("{sign}{text}"))
        .map_err(|_| FigureError::NotFinite {
            quantity: Quantity::Energy,
            value: delta_kwh,
        })
}

/// Energy and CO2e together, as every page and e-mail writes a figure: `500 Wh · 289 g CO2e`.
pub fn energy_and_co2e(kwh: f64, grams: f64) -> Result<String, FigureError> {
    Ok(format!("{} · {}", energy(kwh)?, co2e(grams)?))
}

/// What a page shows in place of a refused figure (the refusal is a bug upstream: a negative
/// sum of energy cannot be measured).
pub fn refused(error: FigureError) -> String {
    format!("(not shown: {error})")
}

/// A figure, or the text saying why it is not shown: for views, which must show something.
pub fn or_refused(figure: Result<String, FigureError>) -> String {
    figure.unwrap_or_else(refused)
}

/// A duration in whole seconds: `45 s`, `3 min`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`.
pub fn duration(secs: u64) -> String {
    let (days, hours, minutes, seconds) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    let (big, big_unit, small, small_unit) = if days > 0 {
        (days, "d", hours, "h")
    } else if hours > 0 {
        (hours, "h", minutes, "min")
    } else if minutes > 0 {
        (minutes, "min", seconds, "s")
    } else {
        return format!("{seconds} s");
    };
    if small == 0 {
        format!("{big} {big_unit}")
    } else {
        format!("{big} {big_unit} {small} {small_unit}")
    }
}

/// How long ago something happened, from the seconds since: `just now`, `3 min ago`.
pub fn ago(secs: u64) -> String {
    if secs == 0 {
        "just now".to_owned()
    } else {
        format!("{} ago", duration(secs))
    }
}

/// A moment for people, in UTC: `30 Nov 2026, 21:15 UTC`.
pub fn time(at: OffsetDateTime) -> String {
    let format =
        format_description!("[day padding:none] [month repr:short] [year], [hour]:[minute] UTC");
    at.to_offset(UtcOffset::UTC)
        .format(&format)
        .unwrap_or_else(|error| format!("(not shown: {error})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn energy_steps_through_its_units_at_each_thousand() {
        assert_eq!(energy(0.999e-6).unwrap(), "0.999 mWh");
        assert_eq!(energy(1e-6).unwrap(), "1.00 mWh");
        assert_eq!(energy(0.999e-3).unwrap(), "999 mWh");
        assert_eq!(energy(1e-3).unwrap(), "1.00 Wh");
        assert_eq!(energy(0.999).unwrap(), "999 Wh");
        assert_eq!(energy(1.0).unwrap(), "1.00 kWh");
        assert_eq!(energy(999.0).unwrap(), "999 kWh");
        assert_eq!(energy(1000.0).unwrap(), "1.00 MWh");
        assert_eq!(energy(999_000.0).unwrap(), "999 MWh");
        assert_eq!(energy(1e6).unwrap(), "1.00 GWh");
        assert_eq!(energy(1.234e9).unwrap(), "1234 GWh");
    }

    #[test]
    fn energy_keeps_three_significant_figures() {
        assert_eq!(energy(0.5).unwrap(), "500 Wh");
        assert_eq!(energy(0.1).unwrap(), "100 Wh");
        assert_eq!(energy(0.0125).unwrap(), "12.5 Wh");
        assert_eq!(energy(0.001_234_5).unwrap(), "1.23 Wh");
        assert_eq!(energy(12.345).unwrap(), "12.3 kWh");
        // Halves round away from zero, also when binary arithmetic lands a hair under them.
        assert_eq!(co2e(0.5 * 481.0 * 1.2 / 4.0).unwrap(), "72.2 g CO2e");
        assert_eq!(co2e(14.43).unwrap(), "14.4 g CO2e");
        assert_eq!(energy(0.001_245).unwrap(), "1.25 Wh");
        // 12 J (a small pod for a minute).
        assert_eq!(energy(12.0 / 3.6e6).unwrap(), "3.33 mWh");
    }

    #[test]
    fn rounding_up_across_a_boundary_takes_the_next_unit() {
        assert_eq!(energy(0.9995).unwrap(), "1.00 kWh");
        assert_eq!(energy(0.999_4).unwrap(), "999 Wh");
        assert_eq!(energy(0.009_996).unwrap(), "10.0 Wh");
        assert_eq!(energy(0.099_96).unwrap(), "100 Wh");
        assert_eq!(energy(999.5).unwrap(), "1.00 MWh");
        assert_eq!(co2e(999.6).unwrap(), "1.00 kg CO2e");
        assert_eq!(power(0.999_6).unwrap(), "1.00 W");
    }

    #[test]
    fn below_the_smallest_unit_still_reads_as_a_figure() {
        assert_eq!(energy(0.5e-6).unwrap(), "0.500 mWh");
        assert_eq!(energy(1e-12).unwrap(), "< 0.001 mWh");
    }

    #[test]
    fn zero_reads_in_the_everyday_unit() {
        assert_eq!(energy(0.0).unwrap(), "0 Wh");
        assert_eq!(co2e(0.0).unwrap(), "0 g CO2e");
        assert_eq!(power(0.0).unwrap(), "0 W");
        assert_eq!(energy(-0.0).unwrap(), "0 Wh");
    }

    #[test]
    fn negative_and_non_numbers_are_refused() {
        assert_eq!(
            energy(-0.001),
            Err(FigureError::Negative {
                quantity: Quantity::Energy,
                value: -0.001
            })
        );
        assert!(matches!(co2e(-1.0), Err(FigureError::Negative { .. })));
        assert!(matches!(power(-1.0), Err(FigureError::Negative { .. })));
        assert!(matches!(
            energy(f64::NAN),
            Err(FigureError::NotFinite { .. })
        ));
        assert!(matches!(
            energy(f64::INFINITY),
            Err(FigureError::NotFinite { .. })
        ));
        assert!(matches!(
            co2e(f64::NEG_INFINITY),
            Err(FigureError::NotFinite { .. })
        ));
        assert_eq!(
            or_refused(energy(-0.5)),
            "(not shown: a negative energy (-0.5) cannot be shown)"
        );
    }

    #[test]
    fn co2e_and_power_step_through_their_units() {
        assert_eq!(co2e(288.6).unwrap(), "289 g CO2e");
        assert_eq!(co2e(57.72).unwrap(), "57.7 g CO2e");
        assert_eq!(co2e(999.0).unwrap(), "999 g CO2e");
        assert_eq!(co2e(1000.0).unwrap(), "1.00 kg CO2e");
        assert_eq!(co2e(12_345.0).unwrap(), "12.3 kg CO2e");
        assert_eq!(co2e(1e6).unwrap(), "1.00 t CO2e");
        assert_eq!(co2e(12.0 / 3.6e6 * 481.0 * 1.2).unwrap(), "1.92 mg CO2e");
        assert_eq!(power(2.96).unwrap(), "2.96 W");
        assert_eq!(power(0.69).unwrap(), "690 mW");
        assert_eq!(power(1200.0).unwrap(), "1.20 kW");
    }

    #[test]
    fn changes_carry_their_sign() {
        assert_eq!(energy_change(0.25).unwrap(), "+250 Wh");
        assert_eq!(energy_change(-0.1).unwrap(), "-100 Wh");
        assert_eq!(energy_change(0.0).unwrap(), "+0 Wh");
        assert!(energy_change(f64::NAN).is_err());
        assert_eq!(energy_and_co2e(0.5, 288.6).unwrap(), "500 Wh · 289 g CO2e");
    }

    #[test]
    fn durations_and_times_read_as_people_write_them() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(180), "3 min");
        assert_eq!(duration(200), "3 min 20 s");
        assert_eq!(duration(2 * 3600 + 5 * 60 + 9), "2 h 5 min");
        assert_eq!(duration(3 * 86_400 + 4 * 3600), "3 d 4 h");
        assert_eq!(ago(0), "just now");
        assert_eq!(ago(180), "3 min ago");
        let at = time::macros::datetime!(2026-11-30 22:15 +01:00);
        assert_eq!(time(at), "30 Nov 2026, 21:15 UTC");
    }
}
