//! Pictures drawn by the server as inline SVG: proportional bars (layers of an image, a
//! disk), horizontal bar charts (bytes per upstream) and stacked columns over time (sync
//! runs per day). No chart library and no inline style: colours come from classes in the
//! stylesheet (`.s0`…`.s7`, `.ok`, `.bad`), so they follow the light or dark theme.
//! Every picture has a text equivalent: `role="img"`, an `aria-label`, and a `<title>` on
//! each part for the pointer.

use std::fmt::Write;

/// Escape text for SVG/HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One part of a proportional bar.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Shown on hover (`<title>`): "layer 3: 27.1 MiB".
    pub title: String,
    pub value: u64,
}

/// A bar 100 units wide split in proportion to `segments` (each at least a hairline, so
/// tiny layers stay visible), colours cycling through eight classes.
pub fn proportional_bar(label: &str, segments: &[Segment]) -> String {
    let total: u64 = segments.iter().map(|s| s.value).sum();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="bar" viewBox="0 0 1000 24" preserveAspectRatio="none" role="img" aria-label="{}">"#,
        escape(label)
    );
    if total == 0 || segments.is_empty() {
        out.push_str(r#"<rect class="empty" x="0" y="0" width="1000" height="24"/></svg>"#);
        return out;
    }
    // Widths in thousandths, each at least 2, scaled so they still add up to 1000.
    let min = 2.0;
    let raw: Vec<f64> = segments
        .iter()
        .map(|s| (s.value as f64 / total as f64 * 1000.0).max(min))
        .collect();
    let scale = 1000.0 / raw.iter().sum::<f64>();
    let mut x = 0.0;
    for (i, (segment, w)) in segments.iter().zip(&raw).enumerate() {
        let w = w * scale;
        let _ = write!(
            out,
            r#"<rect class="s{}" x="{x:.2}" y="0" width="{w:.2}" height="24"><title>{}</title></rect>"#,
            i % 8,
            escape(&segment.title)
        );
        x += w;
    }
    out.push_str("</svg>");
    out
}

/// A used/total gauge: one bar, the used part coloured `.bad` past `warn` (a fraction).
pub fn gauge(label: &str, used: u64, total: u64, warn: f64) -> String {
    let fraction = if total == 0 {
        0.0
    } else {
        (used as f64 / total as f64).min(1.0)
    };
    let class = if fraction >= warn { "bad" } else { "s0" };
    format!(
        r#"<svg class="bar" viewBox="0 0 1000 24" preserveAspectRatio="none" role="img" aria-label="{}"><rect class="empty" x="0" y="0" width="1000" height="24"/><rect class="{class}" x="0" y="0" width="{:.1}" height="24"><title>{}</title></rect></svg>"#,
        escape(label),
        fraction * 1000.0,
        escape(label)
    )
}

/// One row of a horizontal bar chart.
#[derive(Debug, Clone)]
pub struct BarRow {
    pub label: String,
    pub value: u64,
    /// The value as text beside the bar ("1.2 GiB").
    pub value_text: String,
}

/// Labelled horizontal bars, longest first as given, scaled to the largest value.
pub fn bar_chart(label: &str, rows: &[BarRow]) -> String {
    let max = rows.iter().map(|r| r.value).max().unwrap_or(0).max(1);
    let row_h = 28;
    let height = (rows.len().max(1) * row_h) as u32;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 600 {height}" role="img" aria-label="{}">"#,
        escape(label)
    );
    for (i, row) in rows.iter().enumerate() {
        let y = i * row_h;
        let w = (row.value as f64 / max as f64 * 300.0).max(1.0);
        let _ = write!(
            out,
            r#"<text class="label" x="0" y="{}">{}</text><rect class="s{}" x="180" y="{}" width="{w:.1}" height="18"><title>{}: {}</title></rect><text class="value" x="{:.1}" y="{}">{}</text>"#,
            y + 17,
            escape(&truncate(&row.label, 26)),
            i % 8,
            y + 4,
            escape(&row.label),
            escape(&row.value_text),
            180.0 + w + 6.0,
            y + 17,
            escape(&row.value_text),
        );
    }
    out.push_str("</svg>");
    out
}

/// One column of a stacked column chart: good and bad counts of a period.
#[derive(Debug, Clone)]
pub struct Column {
    /// The period, short ("12-06").
    pub label: String,
    pub ok: u64,
    pub bad: u64,
}

/// Stacked columns (good below, bad on top) with the period under each.
pub fn columns(label: &str, cols: &[Column]) -> String {
    let max = cols.iter().map(|c| c.ok + c.bad).max().unwrap_or(0).max(1);
    let width = (cols.len().max(1) * 40) as u32;
    let (top, plot) = (14.0, 100.0);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {width} 140" role="img" aria-label="{}">"#,
        escape(label)
    );
    for (i, c) in cols.iter().enumerate() {
        let x = i * 40 + 8;
        let ok_h = c.ok as f64 / max as f64 * plot;
        let bad_h = c.bad as f64 / max as f64 * plot;
        let base = top + plot;
        let title = format!("{}: {} ok, {} failed", c.label, c.ok, c.bad);
        let _ = write!(
            out,
            r#"<g><title>{}</title><rect class="ok" x="{x}" y="{:.1}" width="24" height="{ok_h:.1}"/><rect class="bad" x="{x}" y="{:.1}" width="24" height="{bad_h:.1}"/><text class="value" x="{}" y="{:.1}" text-anchor="middle">{}</text><text class="label" x="{}" y="134" text-anchor="middle">{}</text></g>"#,
            escape(&title),
            base - ok_h,
            base - ok_h - bad_h,
            x + 12,
            base - ok_h - bad_h - 3.0,
            c.ok + c.bad,
            x + 12,
            escape(&c.label),
        );
    }
    out.push_str("</svg>");
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(n - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widths(svg: &str) -> Vec<f64> {
        svg.split(r#"width=""#)
            .skip(1)
            .map(|s| s.split('"').next().unwrap_or("0").parse().unwrap_or(0.0))
            .collect()
    }

    #[test]
    fn a_bar_is_proportional_and_tiny_parts_stay_visible() {
        let segs = [
            Segment {
                title: "a".into(),
                value: 750,
            },
            Segment {
                title: "b".into(),
                value: 250,
            },
            Segment {
                title: "c".into(),
                value: 0,
            },
        ];
        let svg = proportional_bar("layers", &segs);
        let w = widths(&svg);
        // The viewBox's own width is not a rect's.
        let rects = &w[..];
        assert_eq!(rects.len(), 3);
        assert!(
            (rects.iter().sum::<f64>() - 1000.0).abs() < 0.1,
            "{rects:?}"
        );
        assert!((rects[0] / rects[1] - 3.0).abs() < 0.05, "{rects:?}");
        assert!(rects[2] > 0.0);
    }

    #[test]
    fn text_in_pictures_is_escaped() {
        let svg = bar_chart(
            "<x>",
            &[BarRow {
                label: "<script>alert(1)</script>".into(),
                value: 1,
                value_text: "\"1\"".into(),
            }],
        );
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("&quot;1&quot;"));
        let svg = columns(
            "runs",
            &[Column {
                label: "'{{x}}'".into(),
                ok: 2,
                bad: 1,
            }],
        );
        assert!(svg.contains("&#39;{{x}}&#39;"));
        assert!(svg.contains("2 ok, 1 failed"));
    }

    #[test]
    fn a_gauge_warns_past_its_threshold() {
        assert!(gauge("disk", 95, 100, 0.9).contains(r#"class="bad""#));
        assert!(!gauge("disk", 50, 100, 0.9).contains(r#"class="bad""#));
        assert!(gauge("disk", 0, 0, 0.9).contains(r#"width="0.0""#));
    }
}
