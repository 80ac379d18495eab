//! Tables written as HTML directly, for rows with nothing reactive in them (plain links, text
//! and labelled figures). As views, each element of each row is a type-erased view with its
//! own allocations: at 10,000 services the catalogue's 50 rows were most of its server time
//! (docs/PERFORMANCE.md). A table's `<tbody inner_html=...>` gets the string the same
//! function writes on the server and in the browser. Every value from the data is escaped.

use std::{borrow::Cow, fmt::Write};

use crate::{
    api::energy::BySource,
    format::{energy, energy_and_co2e, or_refused},
};

/// `value` as element text.
pub fn text(value: &str) -> Cow<'_, str> {
    html_escape::encode_text(value)
}

/// `value` inside a double-quoted attribute.
pub fn attr(value: &str) -> Cow<'_, str> {
    html_escape::encode_double_quoted_attribute(value)
}

/// One labelled figure (`2.96 W measured`), as `components::energy_figures::Figures` and the
/// catalogue show each source's figure.
pub fn write_figure(out: &mut String, source: &str, figure: &str) {
    // Writing into a String cannot fail: the results are ignored.
    let _ = write!(
        out,
        r#"<span class="figure source-{}">{} <span class="source-label">{}</span></span><br>"#,
        attr(source),
        text(figure),
        text(source)
    );
}

/// Energy and CO2e per source, as `components::energy_figures::Figures` shows them.
pub fn write_figures(out: &mut String, figures: &BySource) {
    let parts = figures.parts();
    if parts.is_empty() {
        let _ = write!(
            out,
            r#"<span class="muted">{}</span>"#,
            text(&or_refused(energy(0.0)))
        );
        return;
    }
    for (source, f) in parts {
        write_figure(
            out,
            source,
            &or_refused(energy_and_co2e(f.kwh, f.grams_co2e)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::energy::Figure;

    #[test]
    fn figures_read_as_the_figures_component_writes_them() {
        let mut out = String::new();
        write_figures(&mut out, &BySource::default());
        assert_eq!(out, r#"<span class="muted">0 Wh</span>"#);

        let mut out = String::new();
        let figures = BySource {
            measured: Figure {
                kwh: 1.5,
                grams_co2e: 600.0,
            },
            ..BySource::default()
        };
        write_figures(&mut out, &figures);
        assert_eq!(
            out,
            r#"<span class="figure source-measured">1.50 kWh · 600 g CO2e <span class="source-label">measured</span></span><br>"#
        );
    }

    #[test]
    fn values_are_escaped() {
        let mut out = String::new();
        write_figure(&mut out, "a\"<b>", "1 < 2");
        assert_eq!(
            out,
            r#"<span class="figure source-a&quot;&lt;b&gt;">1 &lt; 2 <span class="source-label">a"&lt;b&gt;</span></span><br>"#
        );
    }
}
