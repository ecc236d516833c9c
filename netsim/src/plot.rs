//! Plots of a report as SVG files: the latency distribution (a CDF), deliveries over time,
//! and store occupancy per tier over time. Plain SVG written by hand (no dependency): axes
//! with ticks, one polyline per series, a legend.

use std::fmt::Write as _;

use crate::report::Report;

const W: f64 = 720.0;
const H: f64 = 360.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 160.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];

/// A series: its name and its points.
type Series = (String, Vec<(f64, f64)>);

fn ticks(max: f64) -> Vec<f64> {
    if max <= 0.0 {
        return vec![0.0];
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(mag * 10.0);
    (0..=((max / step).ceil() as usize))
        .map(|i| i as f64 * step)
        .collect()
}

fn label(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A line chart.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let x_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(x, _)| *x))
        .fold(0.0, f64::max);
    let y_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(0.0, f64::max);
    let (xt, yt) = (ticks(x_max), ticks(y_max));
    let x_top = xt.last().copied().unwrap_or(1.0).max(1e-9);
    let y_top = yt.last().copied().unwrap_or(1.0).max(1e-9);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let px = |x: f64| LEFT + x / x_top * pw;
    let py = |y: f64| TOP + ph - y / y_top * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        LEFT + pw / 2.0,
        escape(title)
    );
    for t in &xt {
        let x = px(*t);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            TOP,
            TOP + ph,
            TOP + ph + 16.0,
            label(*t)
        );
    }
    for t in &yt {
        let y = py(*t);
        let _ = write!(
            s,
            r##"<line x1="{}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT,
            LEFT + pw,
            LEFT - 6.0,
            y + 4.0,
            label(*t)
        );
    }
    let _ = write!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>"##
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        LEFT + pw / 2.0,
        H - 10.0,
        escape(x_label)
    );
    let _ = write!(
        s,
        r#"<text x="18" y="{}" text-anchor="middle" transform="rotate(-90 18 {})">{}</text>"#,
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        escape(y_label)
    );
    for (i, (name, points)) in series.iter().enumerate() {
        let colour = COLOURS.get(i % COLOURS.len()).copied().unwrap_or("#000");
        let pts: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        let ly = TOP + 14.0 + i as f64 * 18.0;
        let _ = write!(
            s,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            LEFT + pw + 10.0,
            LEFT + pw + 30.0,
            LEFT + pw + 36.0,
            ly + 4.0,
            escape(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The three plots of a report: (file name, SVG).
pub fn plots(r: &Report) -> Vec<(&'static str, String)> {
    let cdf: Vec<(f64, f64)> = r
        .latency_cdf_ms
        .iter()
        .enumerate()
        .map(|(i, ms)| (*ms as f64 / 60_000.0, i as f64))
        .collect();
    let hours = |ms: u64| ms as f64 / 3_600_000.0;
    let delivered: Vec<(f64, f64)> = r
        .timeline
        .iter()
        .map(|s| (hours(s.at_ms), s.delivered as f64))
        .collect();
    let generated: Vec<(f64, f64)> = r
        .timeline
        .iter()
        .map(|s| (hours(s.at_ms), s.generated as f64))
        .collect();
    let tiers: Vec<String> = r.tiers.keys().cloned().collect();
    let stored: Vec<Series> = tiers
        .iter()
        .map(|t| {
            let points = r
                .timeline
                .iter()
                .map(|s| {
                    (
                        hours(s.at_ms),
                        s.stored_bytes.get(t).copied().unwrap_or(0) as f64,
                    )
                })
                .collect();
            (t.clone(), points)
        })
        .collect();
    vec![
        (
            "latency.svg",
            line_chart(
                &format!("{}: latency of delivered bundles", r.scenario),
                "latency (minutes)",
                "percent of delivered bundles",
                &[("CDF".to_string(), cdf)],
            ),
        ),
        (
            "deliveries.svg",
            line_chart(
                &format!("{}: bundles over time", r.scenario),
                "virtual time (hours)",
                "bundles",
                &[
                    ("generated".to_string(), generated),
                    ("delivered".to_string(), delivered),
                ],
            ),
        ),
        (
            "store.svg",
            line_chart(
                &format!("{}: bytes stored per tier", r.scenario),
                "virtual time (hours)",
                "bytes stored",
                &stored,
            ),
        ),
    ]
}
