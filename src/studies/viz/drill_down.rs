//! Adaptive drill-down for occlusion sweeps: a coarse map first, the fine
//! positions only where the coarse map changes most, the rest interpolated.
//!
//! The fine grid is the sweep's `[R, C]` positions. The coarse grid keeps
//! every `coarse`-th row and column of it, and always the last ones, so
//! that every fine position lies in a cell between four coarse corners.
//! A cell's score is the spread of the target's probability over its
//! corners (largest minus smallest): where the corners agree, the map is
//! taken to be flat inside and bilinear interpolation fills it; the cells
//! with the largest spreads, `fraction` of them, are evaluated position by
//! position. A change that starts and ends inside one cell, between its
//! corners, is missed: that is the approximation, and
//! [`OcclusionMaps::error_against`](super::OcclusionMaps::error_against)
//! measures it.

use crate::error::{Error, Result};

/// The settings of an adaptive sweep (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrillDown {
    /// Fine positions between neighbouring coarse ones, along each axis
    /// (at least 2).
    pub coarse: usize,
    /// Fraction of coarse cells evaluated at every fine position, in
    /// `[0, 1]` (1 evaluates every position: the exact sweep).
    pub fraction: f64,
}

impl DrillDown {
    /// Checked settings.
    pub fn new(coarse: usize, fraction: f64) -> Result<Self> {
        if coarse < 2 {
            return Err(Error::invalid(format!(
                "a coarse grid keeps every n-th position, n at least 2, got {coarse}"
            )));
        }
        if !(fraction.is_finite() && (0.0..=1.0).contains(&fraction)) {
            return Err(Error::invalid(format!(
                "the fraction of coarse cells refined must be in [0, 1], got {fraction}"
            )));
        }
        Ok(DrillDown { coarse, fraction })
    }
}

/// Indices kept along an axis of `n` fine positions: every `step`-th and
/// the last.
fn coarse_axis(n: usize, step: usize) -> Vec<usize> {
    let mut kept: Vec<usize> = (0..n).step_by(step).collect();
    if n > 0 && kept.last() != Some(&(n - 1)) {
        kept.push(n - 1);
    }
    kept
}

/// The cells' extents along an axis: neighbouring kept indices, or the one
/// index twice on an axis of one position.
fn pairs(kept: &[usize]) -> Vec<(usize, usize)> {
    if kept.len() == 1 {
        vec![(kept[0], kept[0])]
    } else {
        kept.windows(2).map(|w| (w[0], w[1])).collect()
    }
}

/// One evaluated position's values: the target's probability, the most
/// probable class, and the followed feature map's total (if any).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Value {
    pub prob: f64,
    pub top: i64,
    pub feature: Option<f64>,
}

/// The maps of a drill-down over a `rows` x `cols` grid, row-major, and
/// how many positions were evaluated. `evaluate` returns the values of the
/// `(row, col)` positions it is given, in order.
pub(crate) fn sweep(
    rows: usize,
    cols: usize,
    settings: DrillDown,
    mut evaluate: impl FnMut(&[(usize, usize)]) -> Result<Vec<Value>>,
) -> Result<(Vec<Value>, usize)> {
    let mut known: Vec<Option<Value>> = vec![None; rows * cols];
    let mut run = |cells: Vec<(usize, usize)>, known: &mut Vec<Option<Value>>| -> Result<()> {
        let values = evaluate(&cells)?;
        if values.len() != cells.len() {
            return Err(Error::invalid(format!(
                "an occlusion batch returned {} values for {} positions",
                values.len(),
                cells.len()
            )));
        }
        for ((r, c), v) in cells.into_iter().zip(values) {
            known[r * cols + c] = Some(v);
        }
        Ok(())
    };
    let ys = coarse_axis(rows, settings.coarse);
    let xs = coarse_axis(cols, settings.coarse);
    run(
        ys.iter()
            .flat_map(|&r| xs.iter().map(move |&c| (r, c)))
            .collect(),
        &mut known,
    )?;
    let at = |known: &Vec<Option<Value>>, r: usize, c: usize| {
        known[r * cols + c].ok_or_else(|| Error::invalid("a coarse position was not evaluated"))
    };

    // Cells between neighbouring coarse lines, by the spread of their corners.
    let (row_pairs, col_pairs) = (pairs(&ys), pairs(&xs));
    let mut cells = Vec::new();
    for &(r0, r1) in &row_pairs {
        for &(c0, c1) in &col_pairs {
            let mut lo = f64::INFINITY;
            let mut hi = f64::NEG_INFINITY;
            for (r, c) in [(r0, c0), (r0, c1), (r1, c0), (r1, c1)] {
                let p = at(&known, r, c)?.prob;
                lo = lo.min(p);
                hi = hi.max(p);
            }
            cells.push((hi - lo, (r0, r1), (c0, c1)));
        }
    }
    cells.sort_by(|a, b| b.0.total_cmp(&a.0));
    let refine = ((cells.len() as f64) * settings.fraction).ceil() as usize;
    let mut fine = Vec::new();
    let mut queued = vec![false; rows * cols];
    for &(_, (r0, r1), (c0, c1)) in cells.iter().take(refine) {
        for r in r0..=r1 {
            for c in c0..=c1 {
                let i = r * cols + c;
                if known[i].is_none() && !queued[i] {
                    queued[i] = true;
                    fine.push((r, c));
                }
            }
        }
    }
    let evaluated = ys.len() * xs.len() + fine.len();
    if !fine.is_empty() {
        run(fine, &mut known)?;
    }

    // The rest: bilinear between the cell's corners (the most probable
    // class from the nearest corner).
    let cell_of = |pairs: &[(usize, usize)], k: usize| {
        pairs
            .iter()
            .copied()
            .find(|&(_, hi)| k <= hi)
            .unwrap_or(pairs[pairs.len() - 1])
    };
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            if let Some(v) = known[r * cols + c] {
                out.push(v);
                continue;
            }
            let (r0, r1) = cell_of(&row_pairs, r);
            let (c0, c1) = cell_of(&col_pairs, c);
            let t = if r1 > r0 {
                (r - r0) as f64 / (r1 - r0) as f64
            } else {
                0.0
            };
            let u = if c1 > c0 {
                (c - c0) as f64 / (c1 - c0) as f64
            } else {
                0.0
            };
            let q = [
                at(&known, r0, c0)?,
                at(&known, r0, c1)?,
                at(&known, r1, c0)?,
                at(&known, r1, c1)?,
            ];
            let weights = [(1.0 - t) * (1.0 - u), (1.0 - t) * u, t * (1.0 - u), t * u];
            let blend = |f: &dyn Fn(&Value) -> f64| -> f64 {
                q.iter().zip(weights).map(|(v, w)| w * f(v)).sum()
            };
            let nearest = q[(if t > 0.5 { 2 } else { 0 }) + usize::from(u > 0.5)];
            out.push(Value {
                prob: blend(&|v| v.prob),
                top: nearest.top,
                feature: nearest
                    .feature
                    .map(|_| blend(&|v| v.feature.unwrap_or(0.0))),
            });
        }
    }
    Ok((out, evaluated))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(prob: f64) -> Value {
        Value {
            prob,
            top: 0,
            feature: Some(2.0 * prob),
        }
    }

    /// Runs a drill-down over `f`, counting the positions it evaluates.
    fn drill(
        rows: usize,
        cols: usize,
        settings: DrillDown,
        f: impl Fn(usize, usize) -> f64,
    ) -> (Vec<Value>, usize, usize) {
        let mut calls = 0;
        let (maps, evaluated) = sweep(rows, cols, settings, |cells| {
            calls += cells.len();
            Ok(cells.iter().map(|&(r, c)| value(f(r, c))).collect())
        })
        .unwrap();
        (maps, evaluated, calls)
    }

    #[test]
    fn coarse_axes_keep_every_nth_and_the_last() {
        assert_eq!(coarse_axis(7, 3), [0, 3, 6]);
        assert_eq!(coarse_axis(8, 3), [0, 3, 6, 7]);
        assert_eq!(coarse_axis(1, 4), [0]);
    }

    #[test]
    fn bilinear_maps_are_interpolated_exactly_without_refining() {
        // A map that is bilinear between any four corners is rebuilt exactly
        // from the coarse grid alone, at odd sizes that leave a short last cell.
        let f = |r: usize, c: usize| 0.1 + 0.02 * r as f64 - 0.01 * c as f64;
        let (maps, evaluated, calls) = drill(11, 9, DrillDown::new(4, 0.0).unwrap(), f);
        // Rows 0, 4, 8, 10 and columns 0, 4, 8.
        assert_eq!(evaluated, 4 * 3);
        assert_eq!(calls, evaluated);
        for r in 0..11 {
            for c in 0..9 {
                let v = maps[r * 9 + c];
                assert!((v.prob - f(r, c)).abs() < 1e-12, "({r}, {c})");
                assert!((v.feature.unwrap() - 2.0 * f(r, c)).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn the_cells_that_change_most_are_evaluated_everywhere() {
        // A flat map with a dip at coarse position (4, 4): the four
        // cells around it have the largest spreads and are refined; all
        // other positions are flat and interpolated exactly.
        let f = |r: usize, c: usize| {
            let d = (r as f64 - 4.0).powi(2) + (c as f64 - 4.0).powi(2);
            0.9 - 0.8 * (-d / 2.0).exp()
        };
        let settings = DrillDown::new(2, 4.0 / 25.0).unwrap();
        let (maps, evaluated, calls) = drill(11, 11, settings, f);
        assert_eq!(calls, evaluated);
        // 36 coarse positions (0, 2, .., 10 on both axes) and the fine
        // positions of 4 cells (a 5x5 block less its 9 coarse corners).
        assert_eq!(evaluated, 36 + 16);
        for r in 2..=6 {
            for c in 2..=6 {
                assert_eq!(maps[r * 11 + c].prob, f(r, c), "({r}, {c}) was evaluated");
            }
        }
        let worst = (0..121)
            .map(|i| (maps[i].prob - f(i / 11, i % 11)).abs())
            .fold(0.0, f64::max);
        assert!(worst < 0.1, "{worst}");
    }

    #[test]
    fn refining_every_cell_evaluates_every_position_once() {
        let f = |r: usize, c: usize| ((r * 7 + c * 3) % 5) as f64 / 5.0;
        let (maps, evaluated, calls) = drill(6, 10, DrillDown::new(3, 1.0).unwrap(), f);
        assert_eq!((evaluated, calls), (60, 60));
        for (i, v) in maps.iter().enumerate() {
            assert_eq!(v.prob, f(i / 10, i % 10));
        }
    }

    #[test]
    fn a_single_row_is_swept_along_its_one_axis() {
        let f = |_: usize, c: usize| if c == 4 { 0.2 } else { 0.9 };
        let (maps, evaluated, _) = drill(1, 9, DrillDown::new(4, 0.5).unwrap(), f);
        // Coarse 0, 4, 8: both cells spread 0.7, half of them (the first,
        // 0..4) is refined, the other interpolated.
        assert_eq!(evaluated, 3 + 3);
        for v in &maps[..4] {
            assert_eq!(v.prob, 0.9);
        }
        assert!((maps[6].prob - 0.55).abs() < 1e-12);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(DrillDown::new(1, 0.5).is_err());
        assert!(DrillDown::new(2, 1.5).is_err());
        assert!(DrillDown::new(2, f64::NAN).is_err());
    }
}
