//! SVG plots of the commands' results (`--plot FILE.svg`), drawn with plotters: no fonts or
//! images loaded, text as SVG text.

use plotters::prelude::*;
use std::path::Path;

/// A plot that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the plot {path}: {reason}")]
pub struct PlotError {
    pub path: String,
    pub reason: String,
}

fn plot_error(path: &Path) -> impl Fn(String) -> PlotError + '_ {
    move |reason| PlotError {
        path: path.display().to_string(),
        reason,
    }
}

/// One patient's timeline for [`vitals`]: the clear readings the devices sent, and the alerts
/// the clinic decrypted, one per second.
pub struct PatientTimeline {
    pub patient: usize,
    pub heart_rate: Vec<u8>,
    pub spo2: Vec<u8>,
    pub heart_rate_alert: Vec<bool>,
    pub spo2_alert: Vec<bool>,
    pub sustained: Vec<bool>,
}

/// The limits drawn as dashed lines on [`vitals`].
pub struct Limits {
    pub heart_rate_low: u8,
    pub heart_rate_high: u8,
    pub spo2_low: u8,
}

const HR_COLOR: RGBColor = RGBColor(200, 30, 30);
const SPO2_COLOR: RGBColor = RGBColor(30, 90, 200);
const SUSTAINED_COLOR: RGBColor = RGBColor(255, 200, 120);
/// The curves' colors, in order: dark and far apart (printable, and told apart in grey).
const CURVE_COLORS: [RGBColor; 4] = [
    RGBColor(200, 30, 30),
    RGBColor(30, 90, 200),
    RGBColor(40, 40, 40),
    RGBColor(30, 150, 60),
];
/// The top of the vitals panels' scale: room above 190 for the legend.
const Y_TOP: f64 = 250.0;

/// The ward's timelines, one panel per patient: heart rate (bpm) and SpO2 (%) as lines, the
/// decrypted alerts as filled marks on them, the seconds whose alert was sustained shaded, and
/// the rules' limits dashed.
pub fn vitals(
    path: &Path,
    title: &str,
    ward: &[PatientTimeline],
    limits: &Limits,
) -> Result<(), PlotError> {
    let err = plot_error(path);
    let seconds = ward
        .iter()
        .map(|p| p.heart_rate.len())
        .max()
        .unwrap_or(0)
        .max(2);
    let panel_height = 190u32;
    let height = 60 + panel_height * ward.len().max(1) as u32;
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let (top, body) = root.split_vertically(60);
    top.titled(title, ("sans-serif", 20))
        .map_err(|e| err(e.to_string()))?;
    let panels = body.split_evenly((ward.len().max(1), 1));
    for (i, (p, area)) in ward.iter().zip(panels.iter()).enumerate() {
        let mut chart = ChartBuilder::on(area)
            .caption(format!("patient {}", p.patient), ("sans-serif", 14))
            .margin(6)
            .x_label_area_size(30)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..(seconds - 1) as f64, 30f64..Y_TOP)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("second")
            .y_desc("bpm, %")
            .x_labels(10)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_labels(5)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        // Sustained alerts: the seconds shaded.
        chart
            .draw_series(
                p.sustained
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| **s)
                    .map(|(t, _)| {
                        let t = t as f64;
                        Rectangle::new(
                            [
                                ((t - 0.5).max(0.0), 30.0),
                                ((t + 0.5).min((seconds - 1) as f64), Y_TOP),
                            ],
                            SUSTAINED_COLOR.mix(0.5).filled(),
                        )
                    }),
            )
            .map_err(|e| err(e.to_string()))?
            .label("sustained")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 14, y + 5)], SUSTAINED_COLOR.filled())
            });
        for (value, color) in [
            (limits.heart_rate_low, HR_COLOR),
            (limits.heart_rate_high, HR_COLOR),
            (limits.spo2_low, SPO2_COLOR),
        ] {
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, value as f64), ((seconds - 1) as f64, value as f64)],
                    6,
                    4,
                    color.mix(0.6).stroke_width(1),
                ))
                .map_err(|e| err(e.to_string()))?;
        }
        let line = |v: &[u8]| -> Vec<(f64, f64)> {
            v.iter()
                .enumerate()
                .map(|(t, &x)| (t as f64, x as f64))
                .collect()
        };
        chart
            .draw_series(LineSeries::new(
                line(&p.heart_rate),
                HR_COLOR.stroke_width(2),
            ))
            .map_err(|e| err(e.to_string()))?
            .label("heart rate (bpm)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], HR_COLOR.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(line(&p.spo2), SPO2_COLOR.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label("SpO2 (%)")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 14, y)], SPO2_COLOR.stroke_width(2))
            });
        let marks = |values: &[u8], alerts: &[bool], color: RGBColor| {
            values
                .iter()
                .zip(alerts)
                .enumerate()
                .filter(|(_, (_, a))| **a)
                .map(move |(t, (&v, _))| Circle::new((t as f64, v as f64), 4, color.filled()))
                .collect::<Vec<_>>()
        };
        chart
            .draw_series(marks(&p.heart_rate, &p.heart_rate_alert, HR_COLOR))
            .map_err(|e| err(e.to_string()))?
            .label("alert (decrypted)")
            .legend(|(x, y)| Circle::new((x + 7, y), 4, BLACK.filled()));
        chart
            .draw_series(marks(&p.spo2, &p.spo2_alert, SPO2_COLOR))
            .map_err(|e| err(e.to_string()))?;
        if i == 0 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK.mix(0.3))
                .label_font(("sans-serif", 11))
                .draw()
                .map_err(|e| err(e.to_string()))?;
        }
    }
    root.present().map_err(|e| err(e.to_string()))
}

/// One curve of [`throughput`]: a name, and bootstraps/s at each batch size.
#[cfg_attr(not(feature = "tfhe-interop"), allow(dead_code))]
pub struct Curve {
    pub name: String,
    pub points: Vec<(usize, f64)>,
}

/// Bootstraps/s against batch size (log-scaled), one curve per backend or implementation.
#[cfg_attr(not(feature = "tfhe-interop"), allow(dead_code))]
pub fn throughput(path: &Path, title: &str, curves: &[Curve]) -> Result<(), PlotError> {
    let err = plot_error(path);
    let max_batch = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .max()
        .unwrap_or(2)
        .max(2) as f64;
    let max_rate = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.1))
        .fold(1.0f64, f64::max);
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((1f64..max_batch).log_scale(), 0f64..max_rate * 1.1)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("batch size (jobs per call)")
        .y_desc("bootstraps/s (keyswitch + PBS)")
        .x_label_formatter(&|x| format!("{}", x.round()))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (i, curve) in curves.iter().enumerate() {
        let color = CURVE_COLORS[i % CURVE_COLORS.len()];
        let points: Vec<(f64, f64)> = curve.points.iter().map(|&(b, r)| (b as f64, r)).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(curve.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 4, color.filled())),
            )
            .map_err(|e| err(e.to_string()))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))
}

/// One span of a unit's time on [`gantt`]: busy (a batch in the unit) or waiting (the batch
/// ready for the unit, the unit still on an earlier one).
pub struct Span {
    pub start: u64,
    pub end: u64,
    pub busy: bool,
    /// Drawn in the span when it is wide enough (the batch's number).
    pub label: String,
}

/// One unit's row of [`gantt`].
pub struct GanttRow {
    pub name: String,
    pub spans: Vec<Span>,
}

const WAIT_COLOR: RGBColor = RGBColor(190, 190, 190);

/// The units' time over a run, one row each: busy spans filled in the row's color and
/// labelled, waiting spans as a grey band under them, against cycles.
pub fn gantt(path: &Path, title: &str, x_desc: &str, rows: &[GanttRow]) -> Result<(), PlotError> {
    let err = plot_error(path);
    let end = rows
        .iter()
        .flat_map(|r| r.spans.iter().map(|s| s.end))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let height = 110 + 70 * rows.len().max(1) as u32;
    let root = SVGBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let n = rows.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(10)
        .build_cartesian_2d(0f64..end * 1.02, 0f64..n)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_labels(0)
        .disable_y_mesh()
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (i, row) in rows.iter().enumerate() {
        // Top row first.
        let base = n - 1.0 - i as f64;
        let color = CURVE_COLORS[i % CURVE_COLORS.len()];
        // Waiting spans in a thin band under the unit's (they overlap the earlier batches'
        // busy spans, and each other: darker where more batches wait).
        chart
            .draw_series(row.spans.iter().filter(|s| !s.busy).map(|s| {
                Rectangle::new(
                    [(s.start as f64, base + 0.04), (s.end as f64, base + 0.12)],
                    WAIT_COLOR.mix(0.5).filled(),
                )
            }))
            .map_err(|e| err(e.to_string()))?;
        for style in [color.mix(0.8).filled(), WHITE.stroke_width(1)] {
            chart
                .draw_series(row.spans.iter().filter(|s| s.busy).map(|s| {
                    Rectangle::new(
                        [(s.start as f64, base + 0.16), (s.end as f64, base + 0.68)],
                        style,
                    )
                }))
                .map_err(|e| err(e.to_string()))?;
        }
        chart
            .draw_series(
                row.spans
                    .iter()
                    .filter(|s| s.busy && (s.end - s.start) as f64 > end / 40.0)
                    .map(|s| {
                        Text::new(
                            s.label.clone(),
                            ((s.start + s.end) as f64 / 2.0, base + 0.5),
                            ("sans-serif", 12).into_font().color(&WHITE),
                        )
                    }),
            )
            .map_err(|e| err(e.to_string()))?;
        chart
            .draw_series(std::iter::once(Text::new(
                row.name.clone(),
                (0.0, base + 0.92),
                ("sans-serif", 13).into_font(),
            )))
            .map_err(|e| err(e.to_string()))?;
    }
    root.present().map_err(|e| err(e.to_string()))
}
