//! `--report DIR`: the bench's figures as a picture, `DIR/bench.svg`.
//!
//! One bar group per operation of a `Cache` (the seven ops of Python's anchor script, then the
//! get and set sides of the multi-process 90/10 mix); in each group two bars per system, its
//! median (solid) and its p99 (pale), on a log scale of microseconds. The systems are ours,
//! Python diskcache (`--compare`) and any `--peer NAME=FILE.json`, each read from JSON of the
//! bench's own shape; an operation a system has no figures for has no bars. Above each group,
//! when Python's figures are there: Python's median divided by ours (above 1: we are faster).
//!
//! Drawn with `plotters`' SVG backend alone: its text is SVG `<text>`, which needs no font
//! library.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;

/// The file `--report DIR` writes inside DIR.
pub const FILE_NAME: &str = "bench.svg";

/// The picture's size in pixels: about a README's width, so it is drawn near 1:1 there.
const SIZE: (u32, u32) = (1000, 560);
/// The height of the band above the chart: the title, two lines of notes, the legend.
const HEADER: u32 = 112;
const FONT: &str = "sans-serif";
/// Font sizes as plotters takes them: the SVG's are these divided by 1.24.
const TITLE_SIZE: u32 = 26;
const TEXT_SIZE: u32 = 18;
const NOTE_SIZE: u32 = 16;

/// The bar groups, left to right: a label and where the figures are in the JSON.
const GROUPS: [(&str, &[&str]); 9] = [
    ("set", &["Cache", "set"]),
    ("get_hit", &["Cache", "get_hit"]),
    ("get_miss", &["Cache", "get_miss"]),
    ("incr", &["Cache", "incr"]),
    ("delete", &["Cache", "delete"]),
    ("set_1MiB", &["Cache", "set_1MiB"]),
    ("get_1MiB", &["Cache", "get_1MiB"]),
    ("mix get", &["mixed_4proc_90get", "get"]),
    ("mix set", &["mixed_4proc_90get", "set"]),
];

/// The colours of the systems in order: ours, Python, then the peers (the last repeats).
const COLOURS: [RGBColor; 6] = [
    RGBColor(0xd9, 0x5f, 0x02),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x1b, 0x9e, 0x77),
    RGBColor(0x75, 0x70, 0xb3),
    RGBColor(0xe7, 0x29, 0x8a),
    RGBColor(0x66, 0x66, 0x66),
];

/// One system on the chart: its name in the legend and its figures (the bench's JSON shape).
pub struct System<'a> {
    /// The legend's name for it.
    pub name: String,
    /// Its JSON: `"Cache"` → op → `{median_us, p99_us, ...}`, and `"mixed_4proc_90get"`.
    pub figures: &'a Value,
    /// Whether it is Python diskcache, whose medians the ratios over the groups divide.
    pub is_python: bool,
}

/// Writes `dir/bench.svg` from our figures, Python's (if given) and the peers'; returns its path.
pub fn write(
    dir: &Path,
    ours: &Value,
    python: Option<&Value>,
    peers: &[(String, Value)],
) -> Result<PathBuf, String> {
    let mut systems = vec![System {
        name: "disk-cache (Rust)".to_owned(),
        figures: ours,
        is_python: false,
    }];
    if let Some(py) = python {
        systems.push(System {
            name: "Python diskcache".to_owned(),
            figures: py,
            is_python: true,
        });
    }
    systems.extend(peers.iter().map(|(name, figures)| System {
        name: name.clone(),
        figures,
        is_python: false,
    }));
    let svg = render(&systems)?;
    let path = dir.join(FILE_NAME);
    std::fs::write(&path, svg).map_err(|e| format!("--report {}: {e}", path.display()))?;
    Ok(path)
}

/// The statistic `field` of one group of one system, if it is a positive number (a log scale
/// has no place for zero).
fn figure(figures: &Value, path: &[&str], field: &str) -> Option<f64> {
    path.iter()
        .try_fold(figures, |v, k| v.get(k))
        .and_then(|v| v.get(field))
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite() && *v > 0.0)
}

fn text_of(v: &Value, path: &[&str]) -> Option<String> {
    let v = path.iter().try_fold(v, |v, k| v.get(k))?;
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The line under the title that says what was measured where.
fn provenance(systems: &[System]) -> String {
    let ours = systems[0].figures;
    let get = |v: &Value, p: &[&str]| text_of(v, p).unwrap_or_else(|| "?".to_owned());
    let mut s = format!(
        "disk-cache {} (redb {}, {} write path, durability {})",
        get(ours, &["diskcache_version"]),
        get(ours, &["env", "redb"]),
        get(ours, &["env", "write_path"]),
        text_of(ours, &["env", "durability"]).unwrap_or_else(|| "normal".to_owned()),
    );
    if let Some(py) = systems.iter().find(|s| s.is_python) {
        s.push_str(&format!(
            " · Python diskcache {} (SQLite {})",
            get(py.figures, &["diskcache_version"]),
            get(py.figures, &["env", "sqlite"]),
        ));
    }
    s.push_str(&format!(
        " · n = {} · nproc {} · {}",
        get(ours, &["Cache", "set", "n"]),
        get(ours, &["nproc"]),
        get(ours, &["env", "tmp_fs", "fstype"]),
    ));
    s
}

/// `colour` mixed with white: the pale bar of a p99.
fn pale(colour: RGBColor) -> RGBColor {
    let mix = |c: u8| c + ((255 - u16::from(c)) * 11 / 20) as u8;
    RGBColor(mix(colour.0), mix(colour.1), mix(colour.2))
}

/// A microsecond figure as an axis label: `0.1`, `1`, `10`, ..., `1k`, `10k`, `1M`.
fn axis_label(us: f64) -> String {
    match us {
        v if v >= 1e6 => format!("{}M", v / 1e6),
        v if v >= 1e3 => format!("{}k", v / 1e3),
        v if v >= 1.0 => format!("{v}"),
        v => format!("{}", (v * 1e6).round() / 1e6),
    }
}

fn draw_error(e: impl std::fmt::Display) -> String {
    format!("drawing the report: {e}")
}

/// The SVG of the systems' figures. Fails if there is nothing to draw: no system has a
/// positive median or p99 for any group.
pub fn render(systems: &[System]) -> Result<String, String> {
    let values: Vec<f64> = systems
        .iter()
        .flat_map(|s| {
            GROUPS.iter().flat_map(move |(_, path)| {
                ["median_us", "p99_us"]
                    .into_iter()
                    .filter_map(move |f| figure(s.figures, path, f))
            })
        })
        .collect();
    let (Some(min), Some(max)) = (
        values.iter().copied().reduce(f64::min),
        values.iter().copied().reduce(f64::max),
    ) else {
        return Err(
            "the report has no figures to draw: none of the JSON has a median or p99 \
                    of the Cache's operations or the mix"
                .to_owned(),
        );
    };
    // Whole decades, with room below the shortest bar (so that it shows) and above the
    // tallest for the ratio over it.
    let lo = 10f64.powf((min / 2.0).log10().floor());
    let hi = 10f64.powf((max * 4.0).log10().ceil());
    let decades = (hi / lo).log10().round() as usize;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let (header, body) = root.split_vertically(HEADER);
        draw_header(&header, systems)?;

        let n = GROUPS.len();
        let procs = text_of(systems[0].figures, &["mixed_4proc_90get", "procs"])
            .unwrap_or_else(|| "4".to_owned());
        let mut chart = ChartBuilder::on(&body)
            .margin_left(12)
            .margin_right(16)
            .margin_top(8)
            .margin_bottom(6)
            .x_label_area_size(48)
            .y_label_area_size(64)
            // A hair past whole decades, so that rounding keeps both ends' labels.
            .build_cartesian_2d(
                -0.5f64..(n as f64 - 0.5),
                (lo * 0.999..hi * 1.001).log_scale(),
            )
            .map_err(draw_error)?;
        let x_label = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                GROUPS
                    .get(i as usize)
                    .map_or_else(String::new, |(label, _)| (*label).to_owned())
            } else {
                String::new()
            }
        };
        let y_label = |v: &f64| axis_label(*v);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n + 1)
            .x_label_formatter(&x_label)
            .y_labels(decades)
            .y_label_formatter(&y_label)
            .light_line_style(RGBColor(0xf0, 0xf0, 0xf0))
            .bold_line_style(RGBColor(0xd0, 0xd0, 0xd0))
            .label_style((FONT, TEXT_SIZE))
            .axis_desc_style((FONT, TEXT_SIZE))
            .y_desc("µs per call (log scale)")
            .x_desc(format!(
                "operation on a Cache, one process; mix: {procs} processes, 90% get / 10% set, \
                 on one cache"
            ))
            .draw()
            .map_err(draw_error)?;

        // Each group spans 0.84 of its slot; each system has an equal share, its median on
        // the left half and its p99 on the right.
        let share = 0.84 / systems.len() as f64;
        let bar = share * 0.44;
        let mut bars = Vec::new();
        for (i, (_, path)) in GROUPS.iter().enumerate() {
            for (s, system) in systems.iter().enumerate() {
                let colour = COLOURS[s.min(COLOURS.len() - 1)];
                let left = i as f64 - 0.42 + s as f64 * share + share * 0.04;
                for (k, (field, fill)) in [("median_us", colour), ("p99_us", pale(colour))]
                    .into_iter()
                    .enumerate()
                {
                    if let Some(v) = figure(system.figures, path, field) {
                        let x0 = left + k as f64 * bar;
                        bars.push(Rectangle::new([(x0, lo), (x0 + bar, v)], fill.filled()));
                    }
                }
            }
        }
        chart.draw_series(bars).map_err(draw_error)?;

        // Python's median / ours over each group.
        let python = systems.iter().find(|s| s.is_python);
        let mut ratios = Vec::new();
        for (i, (_, path)) in GROUPS.iter().enumerate() {
            let (Some(py), Some(ours)) = (
                python.and_then(|p| figure(p.figures, path, "median_us")),
                figure(systems[0].figures, path, "median_us"),
            ) else {
                continue;
            };
            let top = systems
                .iter()
                .filter_map(|s| {
                    figure(s.figures, path, "p99_us").or(figure(s.figures, path, "median_us"))
                })
                .fold(ours, f64::max);
            let style = TextStyle::from((FONT, TEXT_SIZE).into_font())
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Bottom));
            ratios.push(Text::new(
                format!("{:.1}×", py / ours),
                (i as f64, top * 1.15),
                style,
            ));
        }
        chart.draw_series(ratios).map_err(draw_error)?;
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

/// Grey, for the header's notes.
const GREY: RGBColor = RGBColor(0x44, 0x44, 0x44);

/// Text whose top left corner is at `(x, y)`.
fn text(
    s: String,
    (x, y): (i32, i32),
    size: u32,
    colour: &'static RGBColor,
) -> Text<'static, (i32, i32), String> {
    Text::new(
        s,
        (x, y),
        TextStyle::from((FONT, size).into_font())
            .color(colour)
            .pos(Pos::new(HPos::Left, VPos::Top)),
    )
}

/// The title, the notes and the legend.
fn draw_header<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    systems: &[System],
) -> Result<(), String> {
    let mut notes = "Latency per call: median (solid), p99 (pale)".to_owned();
    if systems.iter().any(|s| s.is_python) {
        notes.push_str("; over each group: Python's median ÷ ours (>1: disk-cache is faster)");
    }
    let others: Vec<&str> = systems[1..].iter().map(|s| s.name.as_str()).collect();
    let title = match others.as_slice() {
        [] => "disk-cache".to_owned(),
        others => format!("disk-cache vs {}", others.join(", ")),
    };
    let lines = [
        text(
            format!("{title}: latency of the bench's operations"),
            (14, 8),
            TITLE_SIZE,
            &BLACK,
        ),
        text(notes, (14, 40), NOTE_SIZE, &GREY),
        text(provenance(systems), (14, 61), NOTE_SIZE, &GREY),
    ];
    for line in &lines {
        area.draw(line).map_err(draw_error)?;
    }
    // The legend: per system a solid and a pale swatch and its name.
    let mut x = 14;
    for (s, system) in systems.iter().enumerate() {
        let colour = COLOURS[s.min(COLOURS.len() - 1)];
        for (k, fill) in [colour, pale(colour)].into_iter().enumerate() {
            let x0 = x + k as i32 * 14;
            area.draw(&Rectangle::new([(x0, 87), (x0 + 12, 103)], fill.filled()))
                .map_err(draw_error)?;
        }
        let label = format!("{} median, p99", system.name);
        area.draw(&text(label.clone(), (x + 34, 86), TEXT_SIZE, &BLACK))
            .map_err(draw_error)?;
        // The naive width of the label (no font is measured), then a gap.
        x += 34 + label.chars().count() as i32 * 9 + 28;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The contents of the SVG's `<text>` elements, trimmed.
    fn texts(svg: &str) -> Vec<&str> {
        svg.split("</text>")
            .filter_map(|piece| piece.rsplit_once('>'))
            .map(|(_, text)| text.trim())
            .collect()
    }

    fn stats(median: f64, p99: f64) -> Value {
        json!({"median_us": median, "p99_us": p99, "n": 10})
    }

    fn figures(scale: f64) -> Value {
        let mut cache = serde_json::Map::new();
        for (i, (_, path)) in GROUPS.iter().enumerate() {
            if path[0] == "Cache" {
                let m = (i + 1) as f64 * scale;
                cache.insert(path[1].to_owned(), stats(m, m * 3.0));
            }
        }
        json!({
            "diskcache_version": "0.0.0-test",
            "nproc": 2,
            "env": {"redb": "9.9", "write_path": "logged", "durability": null,
                    "sqlite": "3.0", "tmp_fs": {"fstype": "ext4"}},
            "Cache": cache,
            "mixed_4proc_90get": {"procs": 4, "get": stats(2.0 * scale, 9.0 * scale),
                                   "set": stats(40.0 * scale, 900.0 * scale)},
        })
    }

    #[test]
    fn a_report_of_fixed_figures_is_an_svg_naming_every_operation_and_system() {
        let dir = tempfile::tempdir().unwrap();
        let ours = figures(1.0);
        let python = figures(7.5);
        let peers = vec![("peer-crate".to_owned(), figures(0.25))];
        let path = write(dir.path(), &ours, Some(&python), &peers).unwrap();
        assert_eq!(path, dir.path().join(FILE_NAME));
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        assert!(svg.trim_end().ends_with("</svg>"));
        let texts = texts(&svg);
        for (label, _) in GROUPS {
            assert!(texts.contains(&label), "no label {label}: {texts:?}");
        }
        for name in ["disk-cache (Rust)", "Python diskcache", "peer-crate"] {
            let legend = format!("{name} median, p99");
            assert!(texts.contains(&legend.as_str()), "no legend {legend}");
        }
        // Python's medians are 7.5 times ours everywhere.
        let ratios = texts.iter().filter(|t| **t == "7.5×").count();
        assert_eq!(ratios, GROUPS.len());
        // Three systems, two bars each, per group, plus the legend's six swatches.
        assert_eq!(svg.matches("<rect").count(), 1 + GROUPS.len() * 6 + 6);
    }

    #[test]
    fn a_report_with_no_figures_is_an_error_not_a_picture() {
        let empty = json!({"Cache": {"set": {"median_us": 0.0, "p99_us": "fast"}}});
        let systems = [System {
            name: "ours".to_owned(),
            figures: &empty,
            is_python: false,
        }];
        let e = render(&systems).unwrap_err();
        assert!(e.contains("no figures"), "{e}");
    }
}
