//! The Prometheus text exposition format, version 0.0.4.
//!
//! Lua gathers the numbers (per call counters stay in Lua tables, where they
//! cost nothing to bump) and hands them over once per scrape; this file checks
//! them against the format's rules and renders the text a scraper reads:
//!
//! ```text
//! # HELP qtforge_plugin_calls_total Calls into plugin exports.
//! # TYPE qtforge_plugin_calls_total counter
//! qtforge_plugin_calls_total{plugin="greeter"} 3
//! ```
//!
//! Only counters and gauges: histograms and summaries would need buckets and
//! quantiles, which nothing gathers yet.

use std::collections::{HashMap, HashSet};

use crate::error::Error;

/// What a family measures, as its `# TYPE` line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (or back to zero when the process restarts).
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Kind {
    /// The word the `# TYPE` line uses, which is also the name Lua gives.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }

    /// The kind a `# TYPE` word names, if it is one this renderer knows.
    pub fn from_name(name: &str) -> Option<Kind> {
        match name {
            "counter" => Some(Kind::Counter),
            "gauge" => Some(Kind::Gauge),
            _ => None,
        }
    }
}

/// One metric: a name, its help text and kind, and one sample per label set.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The name after the prefix `render` puts in front of it.
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub samples: Vec<Sample>,
}

/// One series of a family: its labels, in the order they are printed, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Integral values below this magnitude print as integers: they fit an `i64`
/// exactly (2^63).
const INTEGER_PRINT_LIMIT: f64 = 9_223_372_036_854_775_808.0;

/// Renders `families` as a Prometheus text exposition (format 0.0.4), each
/// name after `prefix`.
///
/// Families come out in the order given, and so do their samples and labels; a
/// family without samples prints nothing, and no families give an empty
/// string. Every family is checked first, empty ones too, and the first
/// fault is an [`Error::InvalidMetric`] naming the metric, where it sits
/// (`families[2].samples[1]`, counted from 1 as Lua does) and the label.
pub fn render(prefix: &str, families: &[Family]) -> Result<String, Error> {
    let mut first_with_name: HashMap<String, usize> = HashMap::with_capacity(families.len());
    for (index, family) in families.iter().enumerate() {
        let full_name = format!("{prefix}{}", family.name);
        let at = format!("families[{}]", index + 1);
        check_family(&full_name, &at, family)?;
        if let Some(first) = first_with_name.get(&full_name) {
            return Err(invalid(
                &full_name,
                at,
                format!("has the same name as families[{first}]"),
            ));
        }
        first_with_name.insert(full_name, index + 1);
    }

    let mut text = String::new();
    for family in families.iter().filter(|f| !f.samples.is_empty()) {
        let full_name = format!("{prefix}{}", family.name);
        text.push_str("# HELP ");
        text.push_str(&full_name);
        text.push(' ');
        escape_help(&mut text, &family.help);
        text.push_str("\n# TYPE ");
        text.push_str(&full_name);
        text.push(' ');
        text.push_str(family.kind.as_str());
        text.push('\n');
        for sample in &family.samples {
            text.push_str(&full_name);
            write_labels(&mut text, &sample.labels);
            text.push(' ');
            text.push_str(&format_value(sample.value));
            text.push('\n');
        }
    }
    Ok(text)
}

/// A sample value as the format writes it: integral values without a decimal
/// point (`3`, `-2`, `12345678901`), other finite values in the shortest form
/// that reads back to the same `f64` (`0.25`, `1e-7`, `1.5e300`; Go's
/// `ParseFloat`, which Prometheus uses, reads all of these), and `NaN`, `+Inf`
/// and `-Inf`.
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if value.fract() == 0.0 && value.abs() < INTEGER_PRINT_LIMIT {
        // exact: the value is an integer within i64 (and -0 prints as 0)
        return (value as i64).to_string();
    }
    // Debug, not Display: Display never uses an exponent, so 1e-300 would
    // print 300 zeros; Debug gives the shortest round-trip form either way
    format!("{value:?}")
}

/// The name, label names, label uniqueness and counter rules of one family.
fn check_family(full_name: &str, at: &str, family: &Family) -> Result<(), Error> {
    if family.name.is_empty() {
        return Err(invalid("", format!("{at}.name"), "is empty".to_owned()));
    }
    if !is_metric_name(full_name) {
        return Err(invalid(
            full_name,
            format!("{at}.name"),
            "does not make a metric name: it must match [a-zA-Z_:][a-zA-Z0-9_:]*".to_owned(),
        ));
    }
    // each series once; the key leaves out empty values, which Prometheus
    // treats as an absent label, and ignores the order labels come in
    let mut first_with_labels: HashMap<Vec<(&str, &str)>, usize> =
        HashMap::with_capacity(family.samples.len());
    for (index, sample) in family.samples.iter().enumerate() {
        let sample_at = format!("{at}.samples[{}]", index + 1);
        check_labels(full_name, &sample_at, &sample.labels)?;
        if family.kind == Kind::Counter {
            check_counter(full_name, &sample_at, sample.value)?;
        }
        let mut series: Vec<(&str, &str)> = sample
            .labels
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        series.sort_unstable();
        if let Some(first) = first_with_labels.get(&series) {
            let mut shown = String::new();
            write_labels(&mut shown, &sample.labels);
            if shown.is_empty() {
                shown.push_str("{}");
            }
            return Err(invalid(
                full_name,
                sample_at,
                format!("repeats the labels of samples[{first}]: {shown}"),
            ));
        }
        first_with_labels.insert(series, index + 1);
    }
    Ok(())
}

fn check_labels(full_name: &str, at: &str, labels: &[(String, String)]) -> Result<(), Error> {
    let mut seen: HashSet<&str> = HashSet::with_capacity(labels.len());
    for (index, (name, _)) in labels.iter().enumerate() {
        let label_at = || format!("{at}.labels[{}]", index + 1);
        if !is_label_name(name) {
            return Err(invalid(
                full_name,
                label_at(),
                format!("has the name {name:?}, which does not match [a-zA-Z_][a-zA-Z0-9_]*"),
            ));
        }
        if name.starts_with("__") {
            return Err(invalid(
                full_name,
                label_at(),
                format!("has the name {name:?}: names starting with \"__\" are Prometheus's own"),
            ));
        }
        if !seen.insert(name) {
            return Err(invalid(
                full_name,
                at.to_owned(),
                format!("gives label {name:?} twice"),
            ));
        }
    }
    Ok(())
}

fn check_counter(full_name: &str, at: &str, value: f64) -> Result<(), Error> {
    // +Inf passes: the format allows it for a counter, and it is not negative
    if value.is_nan() || value < 0.0 {
        return Err(invalid(
            full_name,
            format!("{at}.value"),
            format!(
                "is {}, but a counter must be a number from 0 up",
                format_value(value)
            ),
        ));
    }
    Ok(())
}

fn invalid(metric: &str, at: String, reason: String) -> Error {
    Error::InvalidMetric {
        metric: metric.to_owned(),
        at,
        reason,
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `{a="1",b="2"}`, or nothing when there are no labels.
fn write_labels(text: &mut String, labels: &[(String, String)]) {
    if labels.is_empty() {
        return;
    }
    text.push('{');
    for (index, (name, value)) in labels.iter().enumerate() {
        if index > 0 {
            text.push(',');
        }
        text.push_str(name);
        text.push_str("=\"");
        escape_label_value(text, value);
        text.push('"');
    }
    text.push('}');
}

/// Label values escape `\`, `"` and newline; everything else is UTF-8 as is.
fn escape_label_value(text: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => text.push_str("\\\\"),
            '"' => text.push_str("\\\""),
            '\n' => text.push_str("\\n"),
            _ => text.push(c),
        }
    }
}

/// Help text escapes `\` and newline only: a quote in it is just a quote.
fn escape_help(text: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => text.push_str("\\\\"),
            '\n' => text.push_str("\\n"),
            _ => text.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(labels: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            labels: labels
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            value,
        }
    }

    fn family(name: &str, kind: Kind, samples: Vec<Sample>) -> Family {
        Family {
            name: name.to_owned(),
            help: format!("About {name}."),
            kind,
            samples,
        }
    }

    /// The error `render` gives, its fields pulled apart for asserting.
    fn failure(prefix: &str, families: &[Family]) -> (String, String, String) {
        let err = render(prefix, families).expect_err("render should fail");
        assert_eq!(err.code(), "invalid_metric");
        assert_eq!(err.details(), "");
        let message = err.to_string();
        match err {
            Error::InvalidMetric { metric, at, .. } => (metric, at, message),
            other => panic!("expected InvalidMetric, got {other:?}"),
        }
    }

    #[test]
    fn renders_help_type_and_samples_after_the_prefix() -> Result<(), Error> {
        let families = [
            family(
                "calls_total",
                Kind::Counter,
                vec![
                    sample(&[("plugin", "greeter")], 3.0),
                    sample(&[("plugin", "logger")], 0.0),
                ],
            ),
            family("plugins_loaded", Kind::Gauge, vec![sample(&[], 2.0)]),
        ];
        assert_eq!(
            render("qtforge_", &families)?,
            "# HELP qtforge_calls_total About calls_total.\n\
             # TYPE qtforge_calls_total counter\n\
             qtforge_calls_total{plugin=\"greeter\"} 3\n\
             qtforge_calls_total{plugin=\"logger\"} 0\n\
             # HELP qtforge_plugins_loaded About plugins_loaded.\n\
             # TYPE qtforge_plugins_loaded gauge\n\
             qtforge_plugins_loaded 2\n"
        );
        Ok(())
    }

    #[test]
    fn keeps_the_order_of_families_samples_and_labels() -> Result<(), Error> {
        let families = [
            family(
                "zeta",
                Kind::Gauge,
                vec![
                    sample(&[("z", "1"), ("a", "2")], 1.0),
                    sample(&[("a", "0"), ("z", "9")], 2.0),
                ],
            ),
            family("alpha", Kind::Gauge, vec![sample(&[], 3.0)]),
        ];
        let text = render("", &families)?;
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "zeta{z=\"1\",a=\"2\"} 1",
                "zeta{a=\"0\",z=\"9\"} 2",
                "alpha 3"
            ]
        );
        Ok(())
    }

    #[test]
    fn skips_families_without_samples_and_ends_with_a_newline() -> Result<(), Error> {
        let families = [
            family("empty", Kind::Counter, vec![]),
            family("up", Kind::Gauge, vec![sample(&[], 1.0)]),
            family("also_empty", Kind::Gauge, vec![]),
        ];
        let text = render("", &families)?;
        assert_eq!(text, "# HELP up About up.\n# TYPE up gauge\nup 1\n");
        assert!(!text.contains("empty"));
        assert_eq!(render("", &[])?, "");
        assert_eq!(render("", &[family("empty", Kind::Gauge, vec![])])?, "");
        Ok(())
    }

    #[test]
    fn escapes_backslash_quote_and_newline_in_label_values() -> Result<(), Error> {
        let cases = [
            ("plain", "plain"),
            ("say \"hi\"", "say \\\"hi\\\""),
            ("C:\\plugins\\x", "C:\\\\plugins\\\\x"),
            ("two\nlines", "two\\nlines"),
            // a backslash before a quote: each escaped on its own
            ("\\\"", "\\\\\\\""),
            // an escaped-looking sequence is data, escaped again
            ("\\n", "\\\\n"),
            ("tab\there\rcr", "tab\there\rcr"),
            ("日本語 ✓ 🎉", "日本語 ✓ 🎉"),
            ("", ""),
            ("{a=\"b\"}", "{a=\\\"b\\\"}"),
        ];
        for (index, (value, escaped)) in cases.iter().enumerate() {
            let name = format!("m{index}");
            let text = render(
                "",
                &[family(
                    &name,
                    Kind::Gauge,
                    vec![sample(&[("v", value)], 1.0)],
                )],
            )?;
            let line = text.lines().last().unwrap_or_default();
            assert_eq!(
                line,
                format!("{name}{{v=\"{escaped}\"}} 1"),
                "value {value:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn escapes_backslash_and_newline_in_help_but_not_quotes() -> Result<(), Error> {
        let mut counted = family("m", Kind::Counter, vec![sample(&[], 1.0)]);
        counted.help = "Counts \"calls\"\\n into C:\\x\nsecond line ✓".to_owned();
        let text = render("", &[counted])?;
        assert_eq!(
            text.lines().next(),
            Some("# HELP m Counts \"calls\"\\\\n into C:\\\\x\\nsecond line ✓")
        );
        assert_eq!(text.lines().count(), 3);
        Ok(())
    }

    #[test]
    fn an_empty_help_still_gets_its_line() -> Result<(), Error> {
        let mut quiet = family("m", Kind::Gauge, vec![sample(&[], 1.0)]);
        quiet.help.clear();
        assert_eq!(render("", &[quiet])?, "# HELP m \n# TYPE m gauge\nm 1\n");
        Ok(())
    }

    #[test]
    fn formats_integers_without_a_point_and_others_round_trip() {
        let cases: &[(f64, &str)] = &[
            (3.0, "3"),
            (0.0, "0"),
            (-0.0, "0"),
            (-2.0, "-2"),
            (12_345_678_901.0, "12345678901"),
            (2f64.powi(53), "9007199254740992"),
            (1e18, "1000000000000000000"),
            (-9_223_372_036_854_775_808.0, "-9.223372036854776e18"),
            (1e19, "1e19"),
            (1.5e300, "1.5e300"),
            (0.25, "0.25"),
            (-0.5, "-0.5"),
            (0.1, "0.1"),
            (1e-7, "1e-7"),
            (123.456, "123.456"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (value, expected) in cases {
            let text = format_value(*value);
            assert_eq!(text, *expected, "value {value:?}");
            assert!(!text.ends_with(".0"), "{text}");
            if value.is_finite() {
                // what is printed reads back as the same number
                assert_eq!(text.parse::<f64>().ok(), Some(*value), "{text}");
            }
        }
    }

    #[test]
    fn gauges_take_any_value_and_counters_take_positive_infinity() -> Result<(), Error> {
        let families = [
            family(
                "g",
                Kind::Gauge,
                vec![
                    sample(&[("v", "neg")], -1.5),
                    sample(&[("v", "nan")], f64::NAN),
                    sample(&[("v", "inf")], f64::NEG_INFINITY),
                ],
            ),
            family("c", Kind::Counter, vec![sample(&[], f64::INFINITY)]),
        ];
        let text = render("", &families)?;
        assert!(text.contains("g{v=\"neg\"} -1.5\n"));
        assert!(text.contains("g{v=\"nan\"} NaN\n"));
        assert!(text.contains("g{v=\"inf\"} -Inf\n"));
        assert!(text.ends_with("c +Inf\n"));
        Ok(())
    }

    #[test]
    fn accepts_colons_in_metric_names_and_underscores_in_labels() -> Result<(), Error> {
        let families = [family(
            "job:calls:rate5m",
            Kind::Gauge,
            vec![sample(&[("_private", "x"), ("a_1", "y")], 1.0)],
        )];
        assert!(render("", &families)?.contains("job:calls:rate5m{_private=\"x\",a_1=\"y\"} 1\n"));
        assert!(
            render(":", &[family("x", Kind::Gauge, vec![sample(&[], 1.0)])])?.contains("\n:x 1\n")
        );
        Ok(())
    }

    #[test]
    fn rejects_names_that_are_not_metric_names() {
        for (prefix, name) in [
            ("", "1calls"),
            ("", "calls total"),
            ("", "calls-total"),
            ("", "caf\u{e9}"),
            ("9", "calls"),
            ("qtforge.", "calls"),
        ] {
            let families = [family(name, Kind::Gauge, vec![sample(&[], 1.0)])];
            let (metric, at, message) = failure(prefix, &families);
            assert_eq!(metric, format!("{prefix}{name}"));
            assert_eq!(at, "families[1].name");
            assert!(message.contains(&format!("{metric:?}")), "{message}");
            assert!(message.contains("[a-zA-Z_:][a-zA-Z0-9_:]*"), "{message}");
        }
    }

    #[test]
    fn rejects_an_empty_name_even_with_a_prefix() {
        let families = [family("", Kind::Gauge, vec![sample(&[], 1.0)])];
        let (metric, at, message) = failure("qtforge_", &families);
        assert_eq!(metric, "");
        assert_eq!(at, "families[1].name");
        assert_eq!(message, "cannot export metrics: families[1].name is empty");
    }

    #[test]
    fn rejects_label_names_outside_the_pattern() {
        for bad in ["", "1st", "with-dash", "with space", "a:b", "caf\u{e9}"] {
            let families = [family(
                "m",
                Kind::Gauge,
                vec![
                    sample(&[("ok", "1")], 1.0),
                    sample(&[("ok", "2"), (bad, "x")], 2.0),
                ],
            )];
            let (metric, at, message) = failure("", &families);
            assert_eq!(metric, "m");
            assert_eq!(at, "families[1].samples[2].labels[2]");
            assert!(message.contains(&format!("{bad:?}")), "{message}");
            assert!(message.contains("[a-zA-Z_][a-zA-Z0-9_]*"), "{message}");
        }
    }

    #[test]
    fn rejects_label_names_starting_with_two_underscores() {
        let families = [family(
            "m",
            Kind::Gauge,
            vec![sample(&[("__name__", "x")], 1.0)],
        )];
        let (_, at, message) = failure("", &families);
        assert_eq!(at, "families[1].samples[1].labels[1]");
        assert_eq!(
            message,
            "cannot export metric \"m\": families[1].samples[1].labels[1] has the name \"__name__\": \
             names starting with \"__\" are Prometheus's own"
        );
        // one underscore is fine
        assert!(
            render(
                "",
                &[family("m", Kind::Gauge, vec![sample(&[("_x", "1")], 1.0)])]
            )
            .is_ok()
        );
    }

    #[test]
    fn rejects_a_label_given_twice_in_one_sample() {
        let families = [family(
            "calls_total",
            Kind::Counter,
            vec![sample(
                &[("plugin", "a"), ("topic", "t"), ("plugin", "b")],
                1.0,
            )],
        )];
        let (metric, at, message) = failure("qtforge_", &families);
        assert_eq!(metric, "qtforge_calls_total");
        assert_eq!(at, "families[1].samples[1]");
        assert_eq!(
            message,
            "cannot export metric \"qtforge_calls_total\": families[1].samples[1] gives label \"plugin\" twice"
        );
    }

    #[test]
    fn rejects_a_label_set_repeated_within_a_family() {
        let families = [family(
            "m",
            Kind::Gauge,
            vec![
                sample(&[("a", "1"), ("b", "2")], 1.0),
                sample(&[("a", "1"), ("b", "3")], 2.0),
                sample(&[("b", "2"), ("a", "1")], 3.0),
            ],
        )];
        let (_, at, message) = failure("", &families);
        assert_eq!(at, "families[1].samples[3]");
        assert!(
            message.ends_with("repeats the labels of samples[1]: {b=\"2\",a=\"1\"}"),
            "{message}"
        );
    }

    #[test]
    fn treats_an_empty_label_value_as_no_label_when_checking_repeats() {
        let families = [family(
            "m",
            Kind::Gauge,
            vec![sample(&[], 1.0), sample(&[("a", "")], 2.0)],
        )];
        let (_, at, message) = failure("", &families);
        assert_eq!(at, "families[1].samples[2]");
        assert!(message.ends_with("of samples[1]: {a=\"\"}"), "{message}");

        let families = [family(
            "m",
            Kind::Gauge,
            vec![sample(&[], 1.0), sample(&[], 2.0)],
        )];
        let (_, _, message) = failure("", &families);
        assert!(
            message.ends_with("repeats the labels of samples[1]: {}"),
            "{message}"
        );
    }

    #[test]
    fn allows_the_same_labels_in_different_families() -> Result<(), Error> {
        let families = [
            family("a", Kind::Gauge, vec![sample(&[("x", "1")], 1.0)]),
            family("b", Kind::Gauge, vec![sample(&[("x", "1")], 1.0)]),
        ];
        render("", &families)?;
        Ok(())
    }

    #[test]
    fn rejects_two_families_with_one_name_even_when_one_is_empty() {
        let families = [
            family("a", Kind::Gauge, vec![sample(&[], 1.0)]),
            family("dup", Kind::Counter, vec![]),
            family("dup", Kind::Gauge, vec![sample(&[], 1.0)]),
        ];
        let (metric, at, message) = failure("p_", &families);
        assert_eq!(metric, "p_dup");
        assert_eq!(at, "families[3]");
        assert_eq!(
            message,
            "cannot export metric \"p_dup\": families[3] has the same name as families[2]"
        );
    }

    #[test]
    fn rejects_negative_and_nan_counters() {
        for (value, shown) in [
            (-1.0, "-1"),
            (-0.5, "-0.5"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            let families = [family(
                "c_total",
                Kind::Counter,
                vec![sample(&[("a", "1")], 1.0), sample(&[("a", "2")], value)],
            )];
            let (metric, at, message) = failure("", &families);
            assert_eq!(metric, "c_total");
            assert_eq!(at, "families[1].samples[2].value");
            assert_eq!(
                message,
                format!(
                    "cannot export metric \"c_total\": families[1].samples[2].value is {shown}, \
                     but a counter must be a number from 0 up"
                )
            );
        }
        // negative zero is zero
        assert!(render("", &[family("c", Kind::Counter, vec![sample(&[], -0.0)])]).is_ok());
    }

    #[test]
    fn checks_empty_families_too() {
        let families = [family("bad name", Kind::Gauge, vec![])];
        let (_, at, _) = failure("", &families);
        assert_eq!(at, "families[1].name");
    }

    #[test]
    fn kinds_read_and_print_their_names() {
        for kind in [Kind::Counter, Kind::Gauge] {
            assert_eq!(Kind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::from_name("histogram"), None);
        assert_eq!(Kind::from_name("Counter"), None);
    }
}
