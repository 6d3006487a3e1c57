//! Charts drawn on the server as inline SVG (no script, no external library): a line of an
//! account's distinct persons per hour against a dashed line of its baseline, and bars of a
//! count per hour. Only numbers and escaped labels go into the markup.

use std::fmt::Write;

const W: f64 = 960.0;
const H: f64 = 220.0;
const PAD_L: f64 = 44.0;
const PAD_B: f64 = 24.0;
const PAD_T: f64 = 10.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn frame(out: &mut String, title: &str, max: f64, hours: usize, first_hour_label: &[String]) {
    let _ = write!(
        out,
        r#"<svg class="chart" role="img" aria-label="{}" viewBox="0 0 {W} {H}" xmlns="http://www.w3.org/2000/svg">"#,
        esc(title)
    );
    let plot_h = H - PAD_B - PAD_T;
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let y = PAD_T + plot_h - plot_h * f64::from(i) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{PAD_L}" x2="{W}" y1="{y:.1}" y2="{y:.1}" stroke="#e3e7ec"/><text x="4" y="{:.1}">{v:.0}</text>"##,
            y + 4.0
        );
    }
    let step = (W - PAD_L) / hours.max(1) as f64;
    for (i, label) in first_hour_label.iter().enumerate() {
        if label.is_empty() {
            continue;
        }
        let x = PAD_L + step * i as f64;
        let _ = write!(out, r#"<text x="{x:.1}" y="{}">{}</text>"#, H - 6.0, esc(label));
    }
}

fn scale(values: impl Iterator<Item = f64>) -> f64 {
    let m = values.fold(0.0_f64, f64::max);
    if m <= 0.0 { 4.0 } else { (m * 1.1).ceil() }
}

/// A line of `values` per hour, a dashed line of `baseline` and a dotted line of `peers` (gaps
/// where they are unknown; `peers` may be empty). `labels` has one entry per hour (empty where
/// none is drawn).
pub fn lines(
    title: &str,
    values: &[u32],
    baseline: &[Option<f64>],
    peers: &[Option<f64>],
    labels: &[String],
) -> String {
    let max = scale(
        values
            .iter()
            .map(|v| f64::from(*v))
            .chain(baseline.iter().flatten().copied())
            .chain(peers.iter().flatten().copied()),
    );
    let mut out = String::with_capacity(4096);
    frame(&mut out, title, max, values.len(), labels);
    let plot_h = H - PAD_B - PAD_T;
    let step = (W - PAD_L) / values.len().max(1) as f64;
    let y = |v: f64| PAD_T + plot_h - plot_h * v / max;
    let x = |i: usize| PAD_L + step * (i as f64 + 0.5);
    let mut path = String::new();
    for (i, v) in values.iter().enumerate() {
        let _ = write!(path, "{}{:.1},{:.1} ", if i == 0 { "M" } else { "L" }, x(i), y(f64::from(*v)));
    }
    let broken = |known: &[Option<f64>]| {
        let mut d = String::new();
        let mut pen_up = true;
        for (i, b) in known.iter().enumerate() {
            match b {
                Some(v) => {
                    let _ = write!(d, "{}{:.1},{:.1} ", if pen_up { "M" } else { "L" }, x(i), y(*v));
                    pen_up = false;
                }
                None => pen_up = true,
            }
        }
        d
    };
    let base = broken(baseline);
    if peers.iter().any(Option::is_some) {
        let _ = write!(out, r#"<path class="peers" d="{}"/>"#, broken(peers));
    }
    let _ = write!(out, r#"<path class="baseline" d="{base}"/><path class="self" d="{path}"/></svg>"#);
    out
}

/// One line per series (its CSS class, its values per hour), on one scale.
pub fn series(title: &str, series: &[(&str, &[u32])], labels: &[String]) -> String {
    let hours = series.first().map_or(0, |(_, v)| v.len());
    let max = scale(series.iter().flat_map(|(_, v)| v.iter().map(|x| f64::from(*x))));
    let mut out = String::with_capacity(4096);
    frame(&mut out, title, max, hours, labels);
    let plot_h = H - PAD_B - PAD_T;
    let step = (W - PAD_L) / hours.max(1) as f64;
    for (class, values) in series {
        let mut d = String::new();
        for (i, v) in values.iter().enumerate() {
            let (x, y) = (PAD_L + step * (i as f64 + 0.5), PAD_T + plot_h - plot_h * f64::from(*v) / max);
            let _ = write!(d, "{}{x:.1},{y:.1} ", if i == 0 { "M" } else { "L" });
        }
        let _ = write!(out, r#"<path class="series {}" d="{d}"/>"#, esc(class));
    }
    out.push_str("</svg>");
    out
}

/// Bars of `values`, one per hour.
pub fn bars(title: &str, values: &[u32], labels: &[String]) -> String {
    let max = scale(values.iter().map(|v| f64::from(*v)));
    let mut out = String::with_capacity(4096);
    frame(&mut out, title, max, values.len(), labels);
    let plot_h = H - PAD_B - PAD_T;
    let step = (W - PAD_L) / values.len().max(1) as f64;
    for (i, v) in values.iter().enumerate() {
        let h = plot_h * f64::from(*v) / max;
        let _ = write!(
            out,
            r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}"><title>{v}</title></rect>"#,
            PAD_L + step * i as f64 + 1.0,
            PAD_T + plot_h - h,
            (step - 2.0).max(1.0)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_their_labels_and_draw_one_mark_per_value() {
        let svg = lines(
            "a <b> & \"c\"",
            &[1, 5, 2],
            &[None, Some(2.0), Some(2.5)],
            &[Some(1.0), Some(1.5), None],
            &["<x>".into(), String::new(), String::new()],
        );
        assert!(svg.contains("a &lt;b&gt; &amp; &quot;c&quot;") && svg.contains("&lt;x&gt;") && !svg.contains("<x>"));
        let line = &svg[svg.find(r#"class="self" d=""#).unwrap()..];
        let line = &line[..line.find("/>").unwrap()];
        assert_eq!(
            (line.matches('M').count(), line.matches('L').count()),
            (1, 2),
            "three points in the account's line"
        );
        assert!(svg.contains(r#"class="baseline" d="M"#), "the baseline starts where it is known");
        let peers = &svg[svg.find(r#"class="peers" d=""#).unwrap()..];
        let peers = &peers[..peers.find("/>").unwrap()];
        assert_eq!((peers.matches('M').count(), peers.matches('L').count()), (1, 1), "the peers' two known hours");
        assert!(!lines("t", &[1], &[None], &[], &[String::new()]).contains("peers"), "no peers, no line");
        let b = bars("t", &[0, 3, 1, 0], &[String::new(), String::new(), String::new(), String::new()]);
        assert_eq!(b.matches("<rect").count(), 4);
    }
}
