//! SVG charts of one run (`--charts DIR`): ZiggyDB ÷ best peer per workload, multi-process
//! scaling, and collection cost against size.
//!
//! Written by hand rather than with a plotting crate: the three charts need only rectangles,
//! polylines and text, and a plotting crate would add its own dependency tree (fonts, image
//! formats) to a harness that already builds six engines. The output is plain SVG 1.1 with
//! no scripts, fonts or external references, so it renders the same on GitHub and offline.

use std::fmt::Write as _;

use crate::coll::{self, Point};
use crate::table::{ratio, Table};

const FONT: &str = "font-family=\"sans-serif\" font-size=\"12\"";
/// Line colours, one per engine or type (colour-blind safe, Okabe–Ito).
const COLOURS: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn header(w: u32, h: u32, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{t}\">\n\
         <rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n\
         <text x=\"{x}\" y=\"22\" text-anchor=\"middle\" font-family=\"sans-serif\" \
         font-size=\"15\" font-weight=\"bold\">{t}</text>\n",
        t = esc(title),
        x = w / 2
    )
}

/// Horizontal bars of ZiggyDB ÷ best peer for every row of `tables` that has a ratio, on a
/// log₂ scale centred on 1 (bars to the right: ZiggyDB ahead).
pub fn ratio_chart(tables: &[&Table]) -> String {
    let rows: Vec<(String, f64)> = tables
        .iter()
        .flat_map(|t| t.rows.iter())
        .filter_map(|r| ratio(r).map(|v| (short_label(&r.name), v)))
        .collect();
    let label_w = 620.0;
    let plot_w = 440.0;
    let row_h = 20.0;
    let top = 60.0;
    let h = top + row_h * rows.len() as f64 + 50.0;
    let w = label_w + plot_w + 40.0;
    // log2 axis from 1/8 to 16.
    let (lo, hi) = (-3.0f64, 4.0f64);
    let x_of = |v: f64| label_w + (v.log2().clamp(lo, hi) - lo) / (hi - lo) * plot_w;
    let mut s = header(w as u32, h as u32, "ZiggyDB ÷ best peer, per workload");
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"44\" text-anchor=\"middle\" {FONT} fill=\"#555\">above 1: ZiggyDB \
         ahead (for sizes and times, best peer ÷ ZiggyDB); log scale</text>",
        w / 2.0
    );
    for k in -3..=4 {
        let v = 2f64.powi(k);
        let x = x_of(v);
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{}\" \
             stroke-width=\"{}\"/>\n<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" {FONT}>{}×</text>",
            h - 40.0,
            if k == 0 { "#000" } else { "#ddd" },
            if k == 0 { 1.5 } else { 1.0 },
            h - 24.0,
            if k < 0 { format!("1/{}", 1 << -k) } else { format!("{}", 1 << k) }
        );
    }
    for (i, (name, v)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let (x0, x1) = (x_of(1.0), x_of(*v));
        let (a, b) = (x0.min(x1), x0.max(x1));
        let colour = if *v >= 1.0 { "#0072B2" } else { "#D55E00" };
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" {FONT}>{}</text>\n\
             <rect x=\"{a:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{}\" {FONT}>{v:.2}×</text>",
            label_w - 8.0,
            y + 14.0,
            esc(name),
            y + 3.0,
            (b - a).max(1.0),
            row_h - 6.0,
            // Left of 1× the value goes just right of the axis, clear of the names.
            if *v >= 1.0 { b + 4.0 } else { x0 + 4.0 },
            y + 14.0,
            "start",
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A line chart panel at (`x0`, `y0`) of `w`×`h`: one polyline per series over the x values,
/// y from 0 to the largest value; x labels given.
#[allow(clippy::too_many_arguments)]
fn panel(
    s: &mut String,
    x0: f64,
    y0: f64,
    w: f64,
    h: f64,
    title: &str,
    unit: &str,
    x_labels: &[String],
    series: &[(String, Vec<Option<f64>>)],
) {
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b))
        .max(1e-9)
        * 1.1;
    let n = x_labels.len().max(2) as f64;
    // The right margin holds the series' names.
    let x_of = |i: usize| x0 + 50.0 + (w - 150.0) * i as f64 / (n - 1.0);
    let y_of = |v: f64| y0 + h - 30.0 - (h - 60.0) * v / max;
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" {FONT} font-weight=\"bold\">{}</text>",
        x0 + w / 2.0,
        y0 + 14.0,
        esc(title)
    );
    for k in 0..=4 {
        let v = max / 1.1 * f64::from(k) / 4.0;
        let y = y_of(v);
        let _ = writeln!(
            s,
            "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-family=\"sans-serif\" \
             font-size=\"10\">{}</text>",
            x0 + 50.0,
            x0 + w - 100.0,
            x0 + 46.0,
            y + 3.0,
            short_num(v)
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-family=\"sans-serif\" font-size=\"10\" \
         fill=\"#555\">{}</text>",
        x0 + 4.0,
        y0 + 30.0,
        esc(unit)
    );
    for (i, l) in x_labels.iter().enumerate() {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" {FONT}>{}</text>",
            x_of(i),
            y0 + h - 12.0,
            esc(l)
        );
    }
    for (k, (name, vals)) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let pts: Vec<String> = vals
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", x_of(i), y_of(v))))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
            pts.join(" ")
        );
        for p in &pts {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                s,
                "<circle cx=\"{x}\" cy=\"{y}\" r=\"3\" fill=\"{colour}\"/>"
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-family=\"sans-serif\" font-size=\"10\" \
             fill=\"{colour}\">{}</text>",
            x0 + w - 94.0,
            y_of(vals.iter().rev().flatten().next().copied().unwrap_or(0.0)) + 3.0,
            esc(name)
        );
    }
}

/// A row name cut to what the label column holds.
fn short_label(name: &str) -> String {
    const MAX: usize = 92;
    if name.chars().count() <= MAX {
        return name.to_string();
    }
    let cut: String = name.chars().take(MAX - 1).collect();
    format!("{cut}…")
}

fn short_num(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Multi-process scaling: a panel per workload of `what` (row name prefixes), operations per
/// second against 1, 2 and 4 processes, a line per engine that measured it.
pub fn scaling_chart(multi: &Table, what: &[(&str, &str)]) -> String {
    let pw = 400.0;
    let ph = 300.0;
    let w = pw * what.len() as f64 + 20.0;
    let mut s = header(
        w as u32,
        (ph + 50.0) as u32,
        "Several processes on one database",
    );
    for (i, (prefix, unit)) in what.iter().enumerate() {
        let xs = [1, 2, 4];
        let series: Vec<(String, Vec<Option<f64>>)> = multi
            .columns
            .iter()
            .map(|col| {
                let vals = xs
                    .iter()
                    .map(|&p| {
                        let row =
                            format!("{prefix}, {p} process{}", if p == 1 { "" } else { "es" });
                        multi.get(&row, col)
                    })
                    .collect::<Vec<_>>();
                (col.clone(), vals)
            })
            .filter(|(_, v)| v.iter().filter(|x| x.is_some()).count() >= 2)
            .collect();
        panel(
            &mut s,
            10.0 + pw * i as f64,
            40.0,
            pw - 10.0,
            ph,
            prefix,
            unit,
            &xs.iter().map(|p| format!("{p} proc.")).collect::<Vec<_>>(),
            &series,
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Collection cost against size: a panel for writes and one for reads, µs per operation
/// against the number of members (log spaced), a line per type.
pub fn collections_chart(sizes: &[u64], points: &[Point]) -> String {
    let pw = 420.0;
    let ph = 300.0;
    let mut s = header(
        (2.0 * pw + 20.0) as u32,
        (ph + 50.0) as u32,
        "ZiggyDB collection cost against size",
    );
    let labels: Vec<String> = sizes.iter().map(|&n| short_num(n as f64)).collect();
    for (i, (title, write)) in [
        ("one write, a transaction each", true),
        ("one read of a random member", false),
    ]
    .into_iter()
    .enumerate()
    {
        let series: Vec<(String, Vec<Option<f64>>)> = coll::TYPES
            .iter()
            .map(|ty| {
                let vals = sizes
                    .iter()
                    .map(|n| {
                        points.iter().find(|p| p.0 == *ty && p.1 == *n).map(|p| {
                            if write {
                                p.2
                            } else {
                                p.3
                            }
                        })
                    })
                    .collect();
                (ty.to_string(), vals)
            })
            .collect();
        panel(
            &mut s,
            10.0 + pw * i as f64,
            40.0,
            pw - 10.0,
            ph,
            title,
            "µs per operation; members →",
            &labels,
            &series,
        );
    }
    s.push_str("</svg>\n");
    s
}
