//! The weekly e-mail as a person reads it: askama templates (HTML with inline styles and
//! tables, plus plain text) over the report's figures formatted as on the pages, assembled by
//! lettre into `multipart/related` (`multipart/alternative` text + HTML, and the PNG chart).

use app::{
    api::energy::BySource,
    components::energy_figures::{percent, source_mix, trend},
    format::{co2e, energy, energy_and_co2e, energy_change, or_refused},
};
use askama::Template;
use lettre::{
    message::{
        header::{ContentType, Header, HeaderName, HeaderValue},
        Attachment, Mailbox, MultiPart,
    },
    Message,
};

use super::{content::WeeklyReport, ReportError};

/// The chart's `Content-ID` in the message.
pub const CHART_CID: &str = "week-chart";

/// One figure of one source, as the pages write it (`app::format`): `500 Wh · 289 g CO2e`, `measured`.
pub struct Part {
    pub text: String,
    pub source: &'static str,
    pub colour: &'static str,
}

fn parts(figures: &BySource) -> Vec<Part> {
    figures
        .parts()
        .into_iter()
        .map(|(source, f)| Part {
            text: or_refused(energy_and_co2e(f.kwh, f.grams_co2e)),
            source,
            colour: colour_of(source),
        })
        .collect()
}

fn colour_of(source: &str) -> &'static str {
    app::components::energy_chart::SOURCE_COLOURS
        .iter()
        .find(|(name, _)| *name == source)
        .map(|(_, colour)| *colour)
        .unwrap_or("#555555")
}

/// A service's line: its figures per source, the change, and where the page is.
pub struct Line {
    pub name: String,
    pub href: String,
    pub parts: Vec<Part>,
    pub kwh: String,
    pub change: String,
}

pub struct Day {
    pub label: String,
    pub kwh: String,
    pub parts: Vec<Part>,
}

/// Everything the templates show, already formatted.
pub struct EmailView {
    pub team: String,
    pub subject: String,
    pub week_label: String,
    pub team_url: String,
    pub has_data: bool,
    pub total: Vec<Part>,
    pub total_kwh: String,
    pub change: String,
    pub source_mix: String,
    pub idle_share: String,
    pub idle: Vec<Part>,
    pub top: Vec<Line>,
    pub risers: Vec<Line>,
    pub fallers: Vec<Line>,
    pub days: Vec<Day>,
    pub deploys: String,
    /// The drift headline and where its page is (none when nothing was scanned).
    pub drift: Option<(String, String)>,
    pub carbon_notes: Vec<String>,
    /// `cid:week-chart` in a message, the chart's URL in the portal's preview.
    pub chart_src: String,
    pub unsubscribe_url: Option<String>,
    pub settings_url: String,
    /// Said when the team's days are not UTC days (the pages' custom periods are UTC days).
    pub zone_note: Option<String>,
}

#[derive(Template)]
#[template(path = "email/weekly.html")]
struct HtmlEmail<'a> {
    v: &'a EmailView,
}

#[derive(Template)]
#[template(path = "email/weekly.txt")]
struct TextEmail<'a> {
    v: &'a EmailView,
}

fn change_kwh(now: f64, before: f64) -> String {
    format!(
        "{} ({})",
        or_refused(energy_change(now - before)),
        trend(now, before)
    )
}

impl EmailView {
    /// `base` is the portal's public URL without a trailing slash.
    pub fn new(
        report: &WeeklyReport,
        base: &str,
        chart_src: String,
        unsubscribe_url: Option<String>,
    ) -> Self {
        let team_url = format!(
            "{base}/teams/{}?from={}&to={}",
            report.team, report.week_start, report.week_end
        );
        let line = |s: &super::content::ServiceWeek| Line {
            name: s.service.clone(),
            href: format!(
                "{base}/services/{}/{}?from={}&to={}",
                report.team, s.service, report.week_start, report.week_end
            ),
            parts: parts(&s.figures),
            kwh: or_refused(energy(s.figures.total().kwh)),
            change: change_kwh(s.figures.total().kwh, s.previous.total().kwh),
        };
        let total_kwh = report.total.total().kwh;
        let deploys = match report.deploys.total {
            0 => "No deploys this week.".to_owned(),
            n => format!(
                "{n} deploy{} this week: {} succeeded, {} failed.",
                if n == 1 { "" } else { "s" },
                report.deploys.succeeded,
                report.deploys.failed
            ),
        };
        Self {
            team: report.team.clone(),
            subject: format!(
                "{}: {} and {} in the week of {}",
                report.team,
                or_refused(energy(total_kwh)),
                or_refused(co2e(report.total.total().grams_co2e)),
                report.week_start
            ),
            week_label: format!(
                "Monday {} to Sunday {} ({})",
                report.week_start, report.week_end, report.time_zone
            ),
            team_url,
            has_data: report.has_data(),
            total: parts(&report.total),
            total_kwh: or_refused(energy(total_kwh)),
            change: change_kwh(total_kwh, report.previous.total().kwh),
            source_mix: source_mix(&report.total),
            idle_share: percent(report.idle.total().kwh, total_kwh + report.idle.total().kwh),
            idle: parts(&report.idle),
            top: report.top_services(5).into_iter().map(line).collect(),
            risers: report.risers(3).into_iter().map(line).collect(),
            fallers: report.fallers(3).into_iter().map(line).collect(),
            days: report
                .days
                .iter()
                .map(|d| Day {
                    label: format!("{} {}", d.weekday, d.date),
                    kwh: or_refused(energy(d.figures.total().kwh)),
                    parts: parts(&d.figures),
                })
                .collect(),
            deploys,
            drift: report.drift.as_ref().map(|d| {
                let furthest = d
                    .furthest_behind
                    .as_ref()
                    .map(|(service, years)| format!(" Furthest behind: {service} ({years:.1} libyears)."))
                    .unwrap_or_default();
                (
                    format!(
                        "Dependencies: {:.1} libyears behind across {} scanned service{}, {} major update{} ({} that may break).{furthest}",
                        d.libyears,
                        d.services_scanned,
                        if d.services_scanned == 1 { "" } else { "s" },
                        d.majors_behind,
                        if d.majors_behind == 1 { "" } else { "s" },
                        d.breaking,
                    ),
                    format!("{base}/dependencies?team={}", report.team),
                )
            }),
            carbon_notes: report.carbon_notes.clone(),
            chart_src,
            unsubscribe_url,
            settings_url: format!("{base}/teams/{}/weekly-email", report.team),
            zone_note: (report.time_zone != "UTC").then(|| {
                format!(
                    "This week is counted in {} from {} to {} (UTC hours); the portal's pages \
                     count custom periods in UTC days.",
                    report.time_zone, report.from, report.to
                )
            }),
        }
    }

    pub fn html(&self) -> Result<String, ReportError> {
        HtmlEmail { v: self }.render().map_err(ReportError::from)
    }

    pub fn text(&self) -> Result<String, ReportError> {
        TextEmail { v: self }.render().map_err(ReportError::from)
    }
}

/// `List-Unsubscribe: <https://…>` (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.trim_matches(['<', '>']).to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

/// Who a message goes to and how it is identified.
pub struct Addressing<'a> {
    pub from: &'a Mailbox,
    pub to: Mailbox,
    /// `<…@domain>`, the same for every attempt of the same outbox row.
    pub message_id: &'a str,
}

/// The whole message: `multipart/related` (`multipart/alternative` text + HTML, chart PNG).
/// `chart` is the report's PNG ([`super::chart::week_png`]).
pub fn message(
    view: &EmailView,
    chart: Vec<u8>,
    addressing: Addressing<'_>,
    subject_prefix: &str,
) -> Result<Message, ReportError> {
    let png = chart;
    let mut builder = Message::builder()
        .from(addressing.from.clone())
        .to(addressing.to)
        .subject(format!("{subject_prefix}{}", view.subject))
        .message_id(Some(addressing.message_id.to_owned()));
    if let Some(url) = &view.unsubscribe_url {
        builder = builder
            .header(ListUnsubscribe(url.clone()))
            .header(ListUnsubscribePost);
    }
    let body = MultiPart::related()
        .multipart(MultiPart::alternative_plain_html(
            view.text()?,
            view.html()?,
        ))
        .singlepart(Attachment::new_inline(CHART_CID.to_owned()).body(
            png,
            ContentType::parse("image/png").map_err(|e| ReportError::Internal(e.to_string()))?,
        ));
    builder
        .multipart(body)
        .map_err(|e| ReportError::Internal(format!("building the message: {e}")))
}

#[cfg(test)]
mod tests {
    use app::api::energy::{BySource, Figure};

    use super::*;
    use crate::reports::content::{DayFigures, DeployCounts, ServiceWeek};

    fn figures(measured: f64, estimated: f64) -> BySource {
        let figure = |kwh: f64| Figure {
            kwh,
            grams_co2e: kwh * 577.2,
        };
        BySource {
            measured: figure(measured),
            estimated: figure(estimated),
            simulated: Figure::default(),
        }
    }

    /// A fixed week: two services, one rising, one falling, a quiet Sunday.
    fn report() -> WeeklyReport {
        let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        WeeklyReport {
            team: "payments".to_owned(),
            week_start: "2026-11-23".to_owned(),
            week_end: "2026-11-29".to_owned(),
            time_zone: "Europe/Paris".to_owned(),
            from: "2026-11-22T23:00:00Z".to_owned(),
            to: "2026-11-29T23:00:00Z".to_owned(),
            total: figures(0.6, 0.1),
            previous: figures(0.25, 0.0),
            idle: figures(0.15, 0.0),
            services: vec![
                ServiceWeek {
                    service: "checkout".to_owned(),
                    figures: figures(0.5, 0.0),
                    previous: figures(0.25, 0.0),
                    idle: figures(0.1, 0.0),
                },
                ServiceWeek {
                    service: "cart".to_owned(),
                    figures: figures(0.1, 0.1),
                    previous: figures(0.3, 0.0),
                    idle: figures(0.05, 0.0),
                },
            ],
            days: days
                .iter()
                .enumerate()
                .map(|(i, day)| DayFigures {
                    date: format!("2026-11-{}", 23 + i),
                    weekday: (*day).to_owned(),
                    figures: if i == 6 {
                        BySource::default()
                    } else {
                        figures(0.1, if i == 2 { 0.1 } else { 0.0 })
                    },
                })
                .collect(),
            deploys: DeployCounts {
                total: 3,
                succeeded: 2,
                failed: 1,
            },
            carbon_notes: vec!["other clusters: PUE 1.2 × 481 gCO2e/kWh (test)".to_owned()],
            drift: Some(crate::reports::content::DriftHeadline {
                services_scanned: 2,
                libyears: 7.25,
                majors_behind: 3,
                breaking: 4,
                furthest_behind: Some(("checkout".to_owned(), 5.5)),
            }),
        }
    }

    fn view() -> EmailView {
        EmailView::new(
            &report(),
            "https://canopy.example",
            format!("cid:{CHART_CID}"),
            Some("https://canopy.example/unsubscribe?t=TOKEN".to_owned()),
        )
    }

    #[test]
    fn the_html_part_is_stable() {
        insta::assert_snapshot!("weekly_html", view().html().unwrap());
    }

    #[test]
    fn the_text_part_is_stable() {
        insta::assert_snapshot!("weekly_text", view().text().unwrap());
    }

    #[test]
    fn the_message_is_related_alternative_with_the_chart_and_unsubscribe_headers() {
        let from: Mailbox = "Canopy <canopy@example.com>".parse().unwrap();
        let message = message(
            &view(),
            crate::reports::chart::week_png(&report()).unwrap(),
            Addressing {
                from: &from,
                to: "alice@example.com".parse().unwrap(),
                message_id: "<weekly.payments.2026-11-23.7@example.com>",
            },
            "",
        )
        .unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        for expected in [
            "Message-ID: <weekly.payments.2026-11-23.7@example.com>",
            "List-Unsubscribe: <https://canopy.example/unsubscribe?t=TOKEN>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "Content-Type: multipart/related",
            "Content-Type: multipart/alternative",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Type: text/html; charset=utf-8",
            "Content-Type: image/png",
            "Content-ID: <week-chart>",
        ] {
            assert!(raw.contains(expected), "{expected} in {raw}");
        }
        let plain = raw.find("text/plain").unwrap();
        let html = raw.find("text/html").unwrap();
        assert!(plain < html, "text/plain comes first");
    }

    #[test]
    fn every_figure_is_labelled_with_its_source_and_links_to_its_page() {
        let text = view().text().unwrap();
        assert!(
            text.contains("checkout: 500 Wh · 289 g CO2e measured"),
            "{text}"
        );
        assert!(
            text.contains("cart: 100 Wh · 57.7 g CO2e measured; 100 Wh · 57.7 g CO2e estimated"),
            "{text}"
        );
        assert!(
            text.contains("Up: checkout +250 Wh (+100.0 % vs the previous period)"),
            "{text}"
        );
        assert!(
            text.contains("Down: cart -100 Wh (-33.3 % vs the previous period)"),
            "{text}"
        );
        assert!(
            text.contains("3 deploys this week: 2 succeeded, 1 failed."),
            "{text}"
        );
        assert!(
            text.contains(
                "Dependencies: 7.2 libyears behind across 2 scanned services, 3 major updates \
                 (4 that may break). Furthest behind: checkout (5.5 libyears)."
            ) && text.contains("https://canopy.example/dependencies?team=payments"),
            "{text}"
        );
        assert!(text.contains("Europe/Paris"), "{text}");
        let html = view().html().unwrap();
        assert!(
            html.contains("href=\"https://canopy.example/services/payments/checkout?from=2026-11-23&#38;to=2026-11-29\""),
            "{html}"
        );
    }
}
