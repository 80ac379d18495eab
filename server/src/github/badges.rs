//! SVG badges for READMEs: "Deploy to Canopy" (the deploy button's image) and a service's
//! status in one environment (last deploy state, revision, age). Flat two-part badges in the
//! common shields style; text widths are estimated per character (Verdana 11 px) as shields
//! does without a font.

use app::api::deploys::DeployStatus;

/// The "Deploy to Canopy" button image.
pub fn deploy_button() -> String {
    badge("Deploy to", "Canopy", "#2f7d32")
}

/// What a status badge says.
pub struct StatusBadge<'a> {
    pub environment: &'a str,
    pub last: Option<(DeployStatus, i64, jiff::SignedDuration)>,
}

/// A service's status badge: `canopy prod | running · r12 · 3 minutes ago`.
pub fn status(badge_of: &StatusBadge<'_>) -> String {
    let label = format!("canopy {}", badge_of.environment);
    match badge_of.last {
        None => badge(&label, "not deployed", "#9e9e9e"),
        Some((status, revision, age)) => {
            let colour = match status {
                DeployStatus::Succeeded => "#2f7d32",
                DeployStatus::Failed => "#c62828",
                DeployStatus::Applying | DeployStatus::RollingOut => "#1565c0",
            };
            let message = format!(
                "{} · r{revision} · {} ago",
                status.label().to_lowercase(),
                age_words(age)
            );
            badge(&label, &message, colour)
        }
    }
}

/// A badge for a service that does not exist (served with 404).
pub fn unknown(environment: &str) -> String {
    badge(
        &format!("canopy {environment}"),
        "unknown service",
        "#9e9e9e",
    )
}

/// "3 minutes", "2 hours", "5 days": the age rounded to its largest unit (jiff's friendly
/// format).
fn age_words(age: jiff::SignedDuration) -> String {
    let secs = age.as_secs().max(0);
    let span = jiff::Span::new().seconds(secs);
    let unit = if secs < 60 {
        jiff::Unit::Second
    } else if secs < 3600 {
        jiff::Unit::Minute
    } else if secs < 86_400 {
        jiff::Unit::Hour
    } else {
        jiff::Unit::Day
    };
    let rounded = span
        .round(
            jiff::SpanRound::new()
                .largest(unit)
                .smallest(unit)
                .days_are_24_hours(),
        )
        .unwrap_or(span);
    let printer = jiff::fmt::friendly::SpanPrinter::new()
        .designator(jiff::fmt::friendly::Designator::Verbose)
        .spacing(jiff::fmt::friendly::Spacing::BetweenUnitsAndDesignators);
    printer.span_to_string(&rounded)
}

fn text_width(text: &str) -> usize {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | '.' | ',' | ':' | ' ' | '·' | 'j' | 't' | 'f' | 'r' => 4,
            'm' | 'w' | 'M' | 'W' => 10,
            c if c.is_ascii_uppercase() => 8,
            _ => 7,
        })
        .sum::<usize>()
        + 10
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn badge(label: &str, message: &str, colour: &str) -> String {
    let (lw, mw) = (text_width(label), text_width(message));
    let width = lw + mw;
    let (label, message) = (escape(label), escape(message));
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" aria-label="{label}: {message}"><title>{label}: {message}</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="{width}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{mw}" height="20" fill="{colour}"/><rect width="{width}" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{mx}" y="14">{message}</text></g></svg>"##,
        lx = lw / 2,
        mx = lw + mw / 2,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_badges_say_state_revision_and_age() {
        let svg = status(&StatusBadge {
            environment: "prod",
            last: Some((
                DeployStatus::Succeeded,
                12,
                jiff::SignedDuration::from_secs(190),
            )),
        });
        assert!(
            svg.contains("canopy prod: running · r12 · 3 minutes ago"),
            "{svg}"
        );
        assert!(svg.starts_with("<svg"));
        let failed = status(&StatusBadge {
            environment: "dev",
            last: Some((
                DeployStatus::Failed,
                3,
                jiff::SignedDuration::from_secs(2 * 86_400 + 5),
            )),
        });
        assert!(failed.contains("failed · r3 · 2 days ago"), "{failed}");
        assert!(failed.contains("#c62828"));
        let none = status(&StatusBadge {
            environment: "dev",
            last: None,
        });
        assert!(none.contains("not deployed"));
    }

    #[test]
    fn text_is_escaped() {
        assert!(badge("a<b", "c&d", "#000").contains("a&lt;b: c&amp;d"));
    }
}
