//! Dependency-free SVG line charts for the simulator's Markdown report.
//!
//! The report plots a few step series (persons exposed over time, one line per
//! system) and a plotting crate would cost more build time than these few hundred
//! lines. The output is byte-for-byte deterministic so that reports diff cleanly,
//! every user string is escaped because names come from scenario files, and odd
//! data (NaN, empty, flat, huge) degrades to a plainer chart rather than an error.

use std::fmt::Write as _;

/// One line of the chart; `points` are `(x, y)` with x ascending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Everything needed to draw one chart; see [`render`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// log10 scale; values ≤ 0 are drawn at the axis floor.
    pub log_y: bool,
    /// Horizontal reference lines, e.g. `(50.0, "goal: 50")`.
    pub hlines: Vec<(f64, String)>,
}

/// Renders `chart` as a complete standalone SVG document.
///
/// Never fails: non-finite points are skipped, so the worst input yields an empty
/// but valid chart. No XML declaration, so the result can also be inlined in HTML.
pub fn render(chart: &Chart) -> String {
    let series: Vec<Vec<(f64, f64)>> = chart.series.iter().map(|s| clean_points(&s.points)).collect();
    let hlines: Vec<(f64, &str)> = chart
        .hlines
        .iter()
        .filter(|(y, _)| y.is_finite())
        .map(|(y, label)| (clamp_magnitude(*y), label.as_str()))
        .collect();

    let legend = LegendLayout::new(&chart.series);
    let plot = Rect { x0: LEFT, x1: WIDTH - RIGHT, y0: TOP, y1: HEIGHT - BOTTOM_AXIS - legend.height() };

    let xs = series.iter().flatten().map(|p| p.0);
    let ys = series.iter().flatten().map(|p| p.1).chain(hlines.iter().map(|h| h.0));
    // x keeps the data's own extent (the simulated window is meaningful); y starts
    // at zero and ends on a tick so that levels read honestly.
    let x_scale = Scale::linear(xs, false, false, 8);
    let y_scale = if chart.log_y { Scale::log(ys) } else { Scale::linear(ys, true, true, 6) };
    let px = |x: f64| plot.x0 + x_scale.fraction(x) * (plot.x1 - plot.x0);
    let py = |y: f64| plot.y1 - y_scale.fraction(y) * (plot.y1 - plot.y0);

    let mut out = String::with_capacity(4096);
    // Writing to a String cannot fail, hence the ignored results below.
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" font-family=\"Helvetica, Arial, sans-serif\" \
         font-size=\"12\">",
        w = num(WIDTH),
        h = num(HEIGHT)
    );
    let title = text(&chart.title, 90);
    let _ = writeln!(out, "<title>{title}</title>");
    let _ = writeln!(out, "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>");
    if !title.is_empty() {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" \
             font-weight=\"bold\">{title}</text>",
            num(WIDTH / 2.0)
        );
    }

    for (v, label) in &y_scale.ticks {
        let y = num(plot.y1 - y_scale.fraction_of_tick(*v) * (plot.y1 - plot.y0));
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#e6e6e6\"/>",
            num(plot.x0),
            num(plot.x1)
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{y}\" dy=\"4\" text-anchor=\"end\" fill=\"#444444\">{label}</text>",
            num(plot.x0 - 6.0)
        );
    }
    for (v, label) in &x_scale.ticks {
        let x = num(plot.x0 + x_scale.fraction_of_tick(*v) * (plot.x1 - plot.x0));
        let _ = writeln!(
            out,
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#444444\"/>",
            num(plot.y1),
            num(plot.y1 + 5.0)
        );
        let _ = writeln!(
            out,
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" fill=\"#444444\">{label}</text>",
            num(plot.y1 + 18.0)
        );
    }
    let _ = writeln!(
        out,
        "<path d=\"M{x0} {y0}V{y1}H{x1}\" fill=\"none\" stroke=\"#444444\"/>",
        x0 = num(plot.x0),
        y0 = num(plot.y0),
        y1 = num(plot.y1),
        x1 = num(plot.x1)
    );
    let x_label = text(&chart.x_label, 90);
    if !x_label.is_empty() {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{x_label}</text>",
            num((plot.x0 + plot.x1) / 2.0),
            num(plot.y1 + 38.0)
        );
    }
    let y_label = text(&chart.y_label, 50);
    if !y_label.is_empty() {
        let mid = num((plot.y0 + plot.y1) / 2.0);
        let _ = writeln!(
            out,
            "<text x=\"16\" y=\"{mid}\" transform=\"rotate(-90 16 {mid})\" \
             text-anchor=\"middle\">{y_label}</text>"
        );
    }

    for (y, label) in &hlines {
        let y = num(py(*y));
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#888888\" \
             stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>",
            num(plot.x0),
            num(plot.x1)
        );
        let label = text(label, 50);
        if !label.is_empty() {
            // The white halo keeps the label legible where a series crosses it.
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"{y}\" dy=\"-4\" text-anchor=\"end\" fill=\"#555555\" \
                 font-size=\"11\" stroke=\"#ffffff\" stroke-width=\"3\" \
                 paint-order=\"stroke\">{label}</text>",
                num(plot.x1 - 4.0)
            );
        }
    }

    for (i, points) in series.iter().enumerate() {
        let style = line_style(i);
        if let [(x, y)] = points.as_slice() {
            // A lone point has no segment to stroke; a dot keeps it visible.
            let _ = writeln!(
                out,
                "<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\"/>",
                num(px(*x)),
                num(py(*y)),
                style.colour
            );
        } else if !points.is_empty() {
            let mapped: Vec<(f64, f64)> = points.iter().map(|&(x, y)| (px(x), py(y))).collect();
            let _ = writeln!(
                out,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{} \
                 stroke-linejoin=\"round\"/>",
                step_points(&mapped),
                style.colour,
                style.dash_attr()
            );
        }
    }

    if series.iter().all(Vec::is_empty) {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#888888\">no data</text>",
            num((plot.x0 + plot.x1) / 2.0),
            num((plot.y0 + plot.y1) / 2.0)
        );
    }

    legend.write(&mut out, &chart.series, plot.y1 + BOTTOM_AXIS);
    out.push_str("</svg>\n");
    out
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 400.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 44.0;
/// Room under the plot for tick labels and the x label.
const BOTTOM_AXIS: f64 = 48.0;
const LEGEND_ROW: f64 = 18.0;
const LEGEND_GAP: f64 = 18.0;
const LEGEND_MORE_WIDTH: f64 = 70.0;
const LEGEND_MAX_CHARS: usize = 48;
const LEGEND_MAX_ROWS: usize = 4;
/// Beyond this magnitude differences overflow to infinity; values are clamped to it.
const MAX_MAGNITUDE: f64 = 1e300;
/// Far more ticks than any sane axis; a guard against degenerate steps.
const MAX_TICKS: f64 = 50.0;

/// Okabe–Ito, the usual colour-blind-safe palette; yellow last as it is faint on white.
const PALETTE: [&str; 8] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];
/// Dashes tell series apart in grey print; 5 is coprime with 8, so a
/// (colour, dash) pair repeats only after 40 series.
const DASHES: [&str; 5] = ["", "8 4", "2 3", "10 3 2 3", "4 2 1 2"];

struct LineStyle {
    colour: &'static str,
    dash: &'static str,
}

impl LineStyle {
    fn dash_attr(&self) -> String {
        if self.dash.is_empty() { String::new() } else { format!(" stroke-dasharray=\"{}\"", self.dash) }
    }
}

fn line_style(i: usize) -> LineStyle {
    LineStyle { colour: PALETTE[i % PALETTE.len()], dash: DASHES[i % DASHES.len()] }
}

struct Rect {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

/// Legend entries flowing in rows under the x label, so the plot keeps the
/// full width; text widths are estimated since nothing here can measure fonts.
struct LegendLayout {
    /// `(series index, x offset from LEFT, row)`.
    items: Vec<(usize, f64, usize)>,
    /// `(x offset, row, series left out)` when the rows run out.
    more: Option<(f64, usize, usize)>,
    rows: usize,
}

impl LegendLayout {
    fn new(series: &[Series]) -> Self {
        let available = WIDTH - LEFT - RIGHT;
        let mut items = Vec::new();
        let mut more = None;
        let (mut x, mut row) = (0.0, 0);
        for (i, s) in series.iter().enumerate() {
            let width = legend_entry_width(&s.name);
            let on_last_row = row + 1 == LEGEND_MAX_ROWS;
            // The last row keeps room for "+N more" unless nothing would follow.
            let reserve = if on_last_row && i + 1 < series.len() { LEGEND_MORE_WIDTH } else { 0.0 };
            if x > 0.0 && x + width + reserve > available {
                if on_last_row {
                    more = Some((x, row, series.len() - i));
                    break;
                }
                row += 1;
                x = 0.0;
            }
            items.push((i, x, row));
            x += width + LEGEND_GAP;
        }
        let rows = items.last().map_or(0, |&(_, _, row)| row + 1);
        Self { items, more, rows }
    }

    fn height(&self) -> f64 {
        if self.rows == 0 { 0.0 } else { self.rows as f64 * LEGEND_ROW + 6.0 }
    }

    fn write(&self, out: &mut String, series: &[Series], top: f64) {
        let row_y = |row: usize| top + 4.0 + row as f64 * LEGEND_ROW + LEGEND_ROW / 2.0;
        for &(i, dx, row) in &self.items {
            let Some(s) = series.get(i) else { continue };
            let (x, y) = (LEFT + dx, row_y(row));
            let style = line_style(i);
            let _ = writeln!(
                out,
                "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"2\"{}/>",
                num(x),
                num(x + 24.0),
                style.colour,
                style.dash_attr(),
                y = num(y)
            );
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
                num(x + 30.0),
                num(y + 4.0),
                text(&s.name, LEGEND_MAX_CHARS)
            );
        }
        if let Some((dx, row, count)) = self.more {
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#555555\">+{count} more</text>",
                num(LEFT + dx),
                num(row_y(row) + 4.0)
            );
        }
    }
}

/// Line sample plus the name at roughly 6 px per character (11 px sans-serif).
fn legend_entry_width(name: &str) -> f64 {
    30.0 + name.chars().count().min(LEGEND_MAX_CHARS) as f64 * 6.0
}

/// An axis: `lo..hi` in drawing space (log10 of the value on a log axis) and
/// tick positions in that same space with their labels.
#[derive(Debug)]
struct Scale {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<(f64, String)>,
}

impl Scale {
    fn linear(values: impl Iterator<Item = f64>, include_zero: bool, to_ticks: bool, target: usize) -> Self {
        let (mut lo, mut hi) = min_max(values).unwrap_or((0.0, 1.0));
        if include_zero {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        (lo, hi) = widen_if_flat(lo, hi);
        let step = nice_step(hi - lo, target);
        if to_ticks {
            lo = (lo / step).floor() * step;
            hi = (hi / step).ceil() * step;
        }
        let ticks = linear_ticks_with_step(lo, hi, step).into_iter().map(|v| (v, tick_label(v, step))).collect();
        Self { lo, hi, log: false, ticks }
    }

    fn log(values: impl Iterator<Item = f64>) -> Self {
        let (lo, hi) = log_decades(values);
        // Every decade up to ~8 ticks, then every 2nd, 3rd… decade.
        let every = ((hi - lo) / 8.0).ceil().max(1.0);
        let n = ((hi - lo) / every).floor() as usize;
        let ticks = (0..=n)
            .map(|i| {
                let k = lo + i as f64 * every;
                let v = 10f64.powf(k);
                (k, tick_label(v, v))
            })
            .collect();
        Self { lo, hi, log: true, ticks }
    }

    /// Where `v` falls between the axis ends, in `0..=1`; never NaN.
    fn fraction(&self, v: f64) -> f64 {
        let t = if !self.log {
            v
        } else if v > 0.0 {
            v.log10()
        } else {
            self.lo
        };
        self.fraction_of_tick(t)
    }

    fn fraction_of_tick(&self, t: f64) -> f64 {
        let f = (t - self.lo) / (self.hi - self.lo);
        if f.is_finite() { f.clamp(0.0, 1.0) } else { 0.5 }
    }
}

/// Drops non-finite points, clamps the rest and sorts by x, so later
/// arithmetic cannot overflow and a misordered input still draws a step line.
fn clean_points(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|&(x, y)| (clamp_magnitude(x), clamp_magnitude(y)))
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// Clamps to ±MAX_MAGNITUDE and flushes tiny values to zero (their logs and
/// ranges would underflow).
fn clamp_magnitude(v: f64) -> f64 {
    if v.abs() < 1.0 / MAX_MAGNITUDE { 0.0 } else { v.clamp(-MAX_MAGNITUDE, MAX_MAGNITUDE) }
}

fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// A zero-width range cannot be divided; give it room around its value.
fn widen_if_flat(lo: f64, hi: f64) -> (f64, f64) {
    if hi - lo > lo.abs().max(hi.abs()) * 1e-9 {
        return (lo, hi);
    }
    let mid = lo / 2.0 + hi / 2.0;
    if mid == 0.0 {
        (0.0, 1.0)
    } else {
        let pad = mid.abs() / 10.0;
        (mid - pad, mid + pad)
    }
}

/// Largest 1-2-5 step that gives at least `target` intervals over `range`.
fn nice_step(range: f64, target: usize) -> f64 {
    let raw = range / target.max(1) as f64;
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Nice tick values within `lo..=hi`, about `target` intervals apart.
#[cfg(test)]
fn linear_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    linear_ticks_with_step(lo, hi, nice_step(hi - lo, target))
}

/// Multiples of `step` within `lo..=hi`, computed by index so errors don't accumulate.
fn linear_ticks_with_step(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step - 1e-9).ceil();
    let last = (hi / step + 1e-9).floor();
    let n = last - first;
    if !(n.is_finite() && (0.0..=MAX_TICKS).contains(&n)) {
        return vec![lo, hi];
    }
    (0..=n as usize).map(|i| (first + i as f64) * step).collect()
}

/// Whole decades (log10) enclosing the positive values; `(0, 1)` if none.
fn log_decades(values: impl Iterator<Item = f64>) -> (f64, f64) {
    match min_max(values.filter(|v| *v > 0.0)) {
        Some((lo, hi)) => {
            let lo = lo.log10().floor();
            let hi = hi.log10().ceil();
            (lo, if hi > lo { hi } else { lo + 1.0 })
        }
        None => (0.0, 1.0),
    }
}

/// Tick label with as many decimals as `step` needs: `1.5k`, `0.05`, `1e-6`.
fn tick_label(v: f64, step: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let a = v.abs();
    if a < step.abs() * 1e-6 {
        return "0".to_owned();
    }
    if a >= 1e15 || step < 1e-4 {
        return scientific(v);
    }
    for (div, suffix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] {
        let decimals = decimals_for(step / div);
        // A suffix is only worth it while it keeps the label short.
        if a >= div && decimals <= 2 {
            return format!("{}{suffix}", fixed(v / div, decimals));
        }
    }
    fixed(v, decimals_for(step))
}

fn decimals_for(step: f64) -> usize {
    if step >= 1.0 { 0 } else { (-step.log10() - 1e-9).ceil().clamp(0.0, 6.0) as usize }
}

fn scientific(v: f64) -> String {
    let s = format!("{v:.2e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => format!("{}e{exp}", trim_zeros(mantissa)),
        None => s,
    }
}

fn fixed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let s = trim_zeros(&s);
    if s == "-0" { "0".to_owned() } else { s.to_owned() }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s }
}

/// A coordinate: two decimals at most, never NaN.
fn num(v: f64) -> String {
    if v.is_finite() { fixed(v, 2) } else { "0".to_owned() }
}

/// Step-after line through already mapped points, dropping repeated vertices
/// (long flat stretches are common and would bloat the file).
fn step_points(points: &[(f64, f64)]) -> String {
    let mut out = String::new();
    let mut last = String::new();
    let mut prev_y: Option<f64> = None;
    for &(x, y) in points {
        let corner = prev_y.map(|py| (x, py));
        for (vx, vy) in corner.into_iter().chain(std::iter::once((x, y))) {
            let vertex = format!("{},{}", num(vx), num(vy));
            if vertex != last {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&vertex);
                last = vertex;
            }
        }
        prev_y = Some(y);
    }
    out
}

/// User text made safe for XML: control characters become spaces, long text
/// is cut (by character, then escaped, so no entity is split), markup is escaped.
fn text(s: &str, max_chars: usize) -> String {
    let count = s.chars().count();
    let cleaned: String = s
        .chars()
        .take(if count > max_chars { max_chars.saturating_sub(1) } else { count })
        .map(|c| if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' { ' ' } else { c })
        .chain((count > max_chars).then_some('…'))
        .collect();
    escape(cleaned.trim())
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, points: Vec<(f64, f64)>) -> Series {
        Series { name: name.to_owned(), points }
    }

    /// Checks XML well-formedness enough for our output: one root, every
    /// opened tag closed in order, quoted attributes, only known entities,
    /// no raw `<` or `>` in text. Returns the first problem found.
    fn check_xml(doc: &str) -> Result<(), String> {
        let mut stack: Vec<&str> = Vec::new();
        let mut roots = 0;
        let mut rest = doc.trim();
        while !rest.is_empty() {
            let Some(open) = rest.find('<') else {
                check_text(rest)?;
                break;
            };
            check_text(&rest[..open])?;
            if stack.is_empty() && !rest[..open].trim().is_empty() {
                return Err("text outside the root".into());
            }
            let tag_and_more = &rest[open + 1..];
            let close = find_tag_end(tag_and_more)?;
            let tag = &tag_and_more[..close];
            rest = &tag_and_more[close + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                match stack.pop() {
                    Some(open_name) if open_name == name.trim() => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let body = tag.trim_end_matches('/');
            let name_end = body.find(char::is_whitespace).unwrap_or(body.len());
            let name = &body[..name_end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':') {
                return Err(format!("bad tag name in <{tag}>"));
            }
            check_attributes(&body[name_end..])?;
            if stack.is_empty() {
                roots += 1;
            }
            if !self_closing {
                stack.push(name);
            }
        }
        if !stack.is_empty() {
            return Err(format!("unclosed: {stack:?}"));
        }
        if roots != 1 {
            return Err(format!("{roots} root elements"));
        }
        Ok(())
    }

    /// Index of the `>` ending a tag, skipping quoted attribute values.
    fn find_tag_end(s: &str) -> Result<usize, String> {
        let mut quote = None;
        for (i, c) in s.char_indices() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), _) if q == c => quote = None,
                (None, '>') => return Ok(i),
                (None, '<') => return Err("'<' inside a tag".into()),
                _ => {}
            }
        }
        Err("unterminated tag".into())
    }

    fn check_attributes(s: &str) -> Result<(), String> {
        let mut rest = s.trim();
        while !rest.is_empty() {
            let (name, after) = rest.split_once('=').ok_or(format!("attribute without value: {rest}"))?;
            if name.trim().is_empty() || name.trim().contains(char::is_whitespace) {
                return Err(format!("bad attribute name: {name}"));
            }
            let quote = after.chars().next().ok_or("missing value")?;
            if quote != '"' && quote != '\'' {
                return Err(format!("unquoted attribute {name}"));
            }
            let value_and_more = &after[1..];
            let end = value_and_more.find(quote).ok_or("unterminated attribute")?;
            let value = &value_and_more[..end];
            if value.contains('<') {
                return Err(format!("'<' in attribute {name}"));
            }
            check_entities(value)?;
            if value.contains("NaN") || value.contains("inf") {
                return Err(format!("non-finite number in {name}=\"{value}\""));
            }
            rest = value_and_more[end + 1..].trim_start();
        }
        Ok(())
    }

    fn check_text(s: &str) -> Result<(), String> {
        if s.contains('>') {
            return Err(format!("raw '>' in text: {s}"));
        }
        check_entities(s)
    }

    fn check_entities(s: &str) -> Result<(), String> {
        for (i, _) in s.match_indices('&') {
            let after = &s[i..];
            if !["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].iter().any(|e| after.starts_with(e)) {
                return Err(format!("bare '&' in {s}"));
            }
        }
        Ok(())
    }

    fn assert_valid(svg: &str) {
        let checked = check_xml(svg);
        assert!(checked.is_ok(), "{checked:?}\n{svg}");
        assert!(!svg.contains("NaN"), "NaN in\n{svg}");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    }

    #[test]
    fn checker_rejects_broken_xml() {
        assert!(check_xml("<svg><g></svg>").is_err());
        assert!(check_xml("<svg><text>a < b</text></svg>").is_err());
        assert!(check_xml("<svg><text>a & b</text></svg>").is_err());
        assert!(check_xml("<svg x=1/>").is_err());
        assert!(check_xml("<svg/><svg/>").is_err());
        assert!(check_xml("<svg><line x=\"1\"/><text a='&lt;'>&amp;</text></svg>").is_ok());
    }

    #[test]
    fn user_text_is_escaped() {
        let chart = Chart {
            title: "R&D \"quoted\" 'single'".into(),
            x_label: "a < b".into(),
            y_label: "c > d".into(),
            series: vec![series("<script>", vec![(0.0, 1.0), (1.0, 2.0)])],
            hlines: vec![(1.5, "goal: <2 & \"ok\"".into())],
            ..Chart::default()
        };
        let svg = render(&chart);
        assert_valid(&svg);
        assert!(svg.contains("&lt;script&gt;"));
        assert!(!svg.contains("<script"));
        assert!(svg.contains("R&amp;D &quot;quoted&quot; &apos;single&apos;"));
        assert!(svg.contains("a &lt; b"));
        assert!(svg.contains("c &gt; d"));
        assert!(svg.contains("goal: &lt;2 &amp; &quot;ok&quot;"));
    }

    #[test]
    fn long_and_control_text_is_cut_safely() {
        assert_eq!(text("a\u{0}b\nc", 10), "a b c");
        assert_eq!(text("&&&&&", 3), "&amp;&amp;…");
        assert_eq!(text("éééé", 4), "éééé");
        assert_eq!(text("ééééé", 4), "ééé…");
    }

    #[test]
    fn empty_chart_is_valid() {
        let svg = render(&Chart::default());
        assert_valid(&svg);
        assert!(svg.contains("no data"));
        let log = render(&Chart { log_y: true, ..Chart::default() });
        assert_valid(&log);
    }

    #[test]
    fn linear_ticks_use_1_2_5_steps() {
        let ticks = linear_ticks(0.0, 1234.0, 6);
        let by_200: Vec<f64> = (0..=6).map(|i| f64::from(i) * 200.0).collect();
        assert!(ticks == by_200 || ticks == [0.0, 500.0, 1000.0], "{ticks:?}");
        let tenths = linear_ticks(0.0, 1.0, 5);
        assert_eq!(tenths.len(), 6);
        assert!(tenths.iter().zip([0.0, 0.2, 0.4, 0.6, 0.8, 1.0]).all(|(a, b)| (a - b).abs() < 1e-12));
        assert_eq!(linear_ticks(-10.0, 10.0, 4), [-10.0, -5.0, 0.0, 5.0, 10.0]);
        for (lo, hi) in [(0.0, 7.0), (3.0, 97.0), (0.0, 1e9), (-0.3, 0.05)] {
            let ticks = linear_ticks(lo, hi, 6);
            assert!((2..=13).contains(&ticks.len()), "{lo}..{hi}: {ticks:?}");
            let step = ticks[1] - ticks[0];
            let norm = step / 10f64.powf(step.log10().floor());
            assert!([1.0, 2.0, 5.0].iter().any(|n| (norm - n).abs() < 1e-9), "{step}");
        }
    }

    #[test]
    fn tick_labels_are_short() {
        let labels: Vec<String> = [0.0, 500.0, 1000.0, 1500.0].iter().map(|v| tick_label(*v, 500.0)).collect();
        assert_eq!(labels, ["0", "500", "1k", "1.5k"]);
        assert_eq!(tick_label(10_000.0, 10_000.0), "10k");
        assert_eq!(tick_label(1_000_000.0, 1_000_000.0), "1M");
        assert_eq!(tick_label(2_500_000.0, 500_000.0), "2.5M");
        assert_eq!(tick_label(0.6000000000000001, 0.2), "0.6");
        assert_eq!(tick_label(0.05, 0.05), "0.05");
        assert_eq!(tick_label(-0.0, 1.0), "0");
        assert_eq!(tick_label(1e-17, 0.1), "0");
        assert_eq!(tick_label(1000.5, 0.5), "1000.5");
        assert_eq!(tick_label(2e-6, 1e-6), "2e-6");
        assert_eq!(tick_label(3e20, 1e20), "3e20");
    }

    #[test]
    fn log_ticks_are_decades() {
        let scale = Scale::log([1.0, 50_000.0].into_iter());
        let labels: Vec<&str> = scale.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["1", "10", "100", "1k", "10k", "100k"]);
        let small = Scale::log([0.05, 3.0].into_iter());
        let labels: Vec<&str> = small.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["0.01", "0.1", "1", "10"]);
        let wide = Scale::log([1e-300, 1e300].into_iter());
        assert!(wide.ticks.len() <= 9, "{:?}", wide.ticks);
        assert_eq!(log_decades([0.0, -5.0].into_iter()), (0.0, 1.0));
        assert_eq!(log_decades([7.0].into_iter()), (0.0, 1.0));
        assert_eq!(log_decades([10.0].into_iter()), (1.0, 2.0));
    }

    #[test]
    fn log_axis_puts_non_positive_values_on_the_floor() {
        let scale = Scale::log([0.0, 1.0, 100.0].into_iter());
        assert_eq!(scale.fraction(0.0), 0.0);
        assert_eq!(scale.fraction(-3.0), 0.0);
        assert_eq!(scale.fraction(1.0), 0.0);
        assert_eq!(scale.fraction(10.0), 0.5);
        assert_eq!(scale.fraction(100.0), 1.0);
    }

    #[test]
    fn hostile_inputs_give_valid_svg() {
        let hostile: Vec<Vec<(f64, f64)>> = vec![
            vec![],
            vec![(3.0, 4.0)],
            vec![(f64::NAN, 1.0), (1.0, f64::NAN), (f64::INFINITY, 2.0), (2.0, f64::NEG_INFINITY)],
            vec![(5.0, 5.0), (5.0, 5.0), (5.0, 5.0)],
            vec![(0.0, 7.0), (1.0, 7.0), (2.0, 7.0)],
            vec![(0.0, 0.0), (1.0, 0.0)],
            vec![(-f64::MAX, -f64::MAX), (f64::MAX, f64::MAX)],
            vec![(0.0, 1e308), (1.0, -1e308), (2.0, f64::MIN_POSITIVE)],
            vec![(1e15, 1.0), (1e15 + 1.0, 2.0)],
            vec![(1.0, 1e-320), (2.0, 5e-324)],
            vec![(3.0, 1.0), (1.0, 2.0), (2.0, -1.0)],
        ];
        for log_y in [false, true] {
            for points in &hostile {
                let chart = Chart {
                    title: "hostile".into(),
                    series: vec![series("s", points.clone())],
                    log_y,
                    hlines: vec![(f64::NAN, "nan".into()), (0.0, "zero".into()), (1e305, "huge".into())],
                    ..Chart::default()
                };
                let svg = render(&chart);
                assert_valid(&svg);
                assert!(!svg.contains("inf"), "{points:?}\n{svg}");
            }
            let all =
                Chart { series: hostile.iter().map(|p| series("s", p.clone())).collect(), log_y, ..Chart::default() };
            assert_valid(&render(&all));
        }
    }

    #[test]
    fn numbers_have_at_most_two_decimals() {
        let chart = Chart {
            series: vec![series("a", vec![(0.0, 1.0 / 3.0), (1.0 / 7.0, 2.0 / 3.0), (1.0, 0.1)])],
            ..Chart::default()
        };
        let svg = render(&chart);
        let mut digits_after_dot = 0;
        let mut after_dot = false;
        for c in svg.chars() {
            if c == '.' {
                after_dot = true;
                digits_after_dot = 0;
            } else if after_dot && c.is_ascii_digit() {
                digits_after_dot += 1;
                assert!(digits_after_dot <= 2, "{svg}");
            } else {
                after_dot = false;
            }
        }
    }

    #[test]
    fn series_get_distinct_styles_and_a_legend() {
        let chart = Chart {
            series: (0..4).map(|i| series(&format!("sys{i}"), vec![(0.0, 0.0), (1.0, f64::from(i))])).collect(),
            ..Chart::default()
        };
        let svg = render(&chart);
        assert_valid(&svg);
        assert_eq!(svg.matches("<polyline").count(), 4);
        for (i, colour) in PALETTE.iter().enumerate().take(4) {
            assert!(svg.contains(&format!(">sys{i}</text>")));
            assert!(svg.contains(colour));
        }
        let styles: Vec<(&str, &str)> = (0..40).map(|i| (line_style(i).colour, line_style(i).dash)).collect();
        for (i, a) in styles.iter().enumerate() {
            assert!(!styles[i + 1..].contains(a), "style {i} repeats");
        }
    }

    #[test]
    fn too_many_series_are_summarised_in_the_legend() {
        let chart = Chart {
            series: (0..20).map(|i| series(&format!("system number {i:02}"), vec![(0.0, 1.0)])).collect(),
            ..Chart::default()
        };
        let svg = render(&chart);
        assert_valid(&svg);
        assert!(svg.contains("+5 more"));
        assert!(svg.contains(">system number 14<"));
        assert!(!svg.contains(">system number 15<"));
    }

    #[test]
    fn step_line_goes_across_then_up() {
        assert_eq!(step_points(&[(0.0, 10.0), (5.0, 20.0), (10.0, 20.0)]), "0,10 5,10 5,20 10,20");
        assert_eq!(step_points(&[(1.0 / 3.0, 2.0)]), "0.33,2");
        assert_eq!(step_points(&[]), "");
    }

    #[test]
    fn output_is_deterministic() {
        let chart = Chart {
            title: "t".into(),
            series: vec![series("a", vec![(0.0, 1.0), (2.0, 3.5)]), series("b", vec![(1.0, 2.0)])],
            hlines: vec![(2.0, "goal".into())],
            ..Chart::default()
        };
        assert_eq!(render(&chart), render(&chart.clone()));
    }
}
