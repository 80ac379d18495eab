//! The week-by-day chart as a PNG (e-mail clients do not show SVG): stacked bars of kWh per
//! day, one colour per source, drawn with plotters from the report's own figures.

use std::sync::OnceLock;

use plotters::{
    prelude::*,
    style::{register_font, FontStyle},
};

use super::{content::WeeklyReport, ReportError};

pub const WIDTH: u32 = 560;
pub const HEIGHT: u32 = 220;

/// A source's colour on the pages (`app::components::energy_chart::SOURCE_COLOURS`, `#rrggbb`).
fn colour(source: &str) -> RGBColor {
    let hex = app::components::energy_chart::SOURCE_COLOURS
        .iter()
        .find(|(name, _)| *name == source)
        .map_or("#555555", |(_, hex)| *hex);
    let channel = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0x55)
    };
    RGBColor(channel(1), channel(3), channel(5))
}

/// Where Debian's `fonts-dejavu-core` puts its sans-serif face (installed by the setup).
const FONT_FILES: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Registers the labels' font once; `false` when none is installed (the chart is drawn
/// without labels; the e-mail's table gives every figure anyway).
fn labels_available() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| {
        FONT_FILES.iter().any(|path| {
            std::fs::read(path).is_ok_and(|bytes| {
                // Registered once for the process's lifetime, as plotters requires.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            })
        })
    })
}

fn drawing(error: impl std::fmt::Display) -> ReportError {
    ReportError::Internal(format!("drawing the chart: {error}"))
}

/// The PNG of the report's days.
pub fn week_png(report: &WeeklyReport) -> Result<Vec<u8>, ReportError> {
    let mut rgb = vec![0_u8; (WIDTH * HEIGHT * 3) as usize];
    draw(report, &mut rgb, labels_available())?;
    let mut png_bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut png_bytes, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(drawing)?;
    writer.write_image_data(&rgb).map_err(drawing)?;
    writer.finish().map_err(drawing)?;
    Ok(png_bytes)
}

fn draw(report: &WeeklyReport, rgb: &mut [u8], labels: bool) -> Result<(), ReportError> {
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(drawing)?;
    let max = report
        .days
        .iter()
        .map(|d| d.figures.total().kwh)
        .fold(0.0_f64, f64::max);
    let top = if max > 0.0 { max * 1.15 } else { 1.0 };
    let days = report.days.len().max(1) as u32;
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(if labels { 24 } else { 0 })
        .y_label_area_size(if labels { 72 } else { 0 })
        .build_cartesian_2d((0..days).into_segmented(), 0.0..top)
        .map_err(drawing)?;
    if labels {
        let names: Vec<String> = report.days.iter().map(|d| d.weekday.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc("Energy")
            .y_label_formatter(&|kwh| app::format::or_refused(app::format::energy(*kwh)))
            .y_labels(5)
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(drawing)?;
    }
    for (i, day) in report.days.iter().enumerate() {
        let i = i as u32;
        let mut base = 0.0;
        for (kwh, colour) in [
            (day.figures.measured.kwh, colour("measured")),
            (day.figures.estimated.kwh, colour("estimated")),
            (day.figures.simulated.kwh, colour("simulated")),
        ] {
            if kwh <= 0.0 {
                continue;
            }
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), base),
                    (SegmentValue::Exact(i + 1), base + kwh),
                ],
                colour.filled(),
            );
            bar.set_margin(0, 0, 8, 8);
            chart.draw_series(std::iter::once(bar)).map_err(drawing)?;
            base += kwh;
        }
    }
    root.present().map_err(drawing)?;
    Ok(())
}
