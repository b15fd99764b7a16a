//! t-SNE of feature vectors (van der Maaten & Hinton 2008): exact or
//! Barnes-Hut (van der Maaten 2014) through the `bhtsne` crate, or with the
//! repulsion interpolated on a grid and convolved by FFT (Linderman et al.
//! 2019, as FIt-SNE and openTSNE) in libtorch. DeCAF's Fig. 1 draws the
//! features of each layer this way, coloured by class.

mod affinity;
mod descent;
mod interpolation;

use crate::error::{Error, Result};
use crate::plot::Scatter;
use crate::runtime::rng::with_torch_seed;
use affinity::{distances_from, log_precisions, squared_norms, CHUNK};
use tch::{Device, Kind, Tensor};

/// How each step's gradient is computed; the attraction is over each
/// point's nearest neighbours in the last two, the repulsion differs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TsneGradient {
    /// Every pair, `O(N^2)` time and memory per step (bhtsne): up to a few
    /// thousand points.
    Exact,
    /// Barnes-Hut's quadtree (bhtsne), `theta` its accuracy trade-off
    /// (0.5 is usual; smaller is more exact and slower).
    BarnesHut {
        /// Largest ratio of a cell's size to its distance for the cell
        /// to stand in for its points.
        theta: f64,
    },
    /// The repulsion interpolated on a grid of 3 nodes per box about one
    /// unit wide and summed by FFT, `O(N)` per step (FIt-SNE, openTSNE's
    /// default); the attraction over the `3 * perplexity` nearest
    /// neighbours, found exactly. Several times faster than Barnes-Hut
    /// from a few thousand points. On this grid the repulsive forces are
    /// within about 2% (in norm) of the exact sums and the normaliser
    /// within 0.3% (measured on a spread-out embedding in the tests).
    Interpolated,
}

/// The settings of a t-SNE run. `bhtsne` spreads the work over threads,
/// so two of its runs with one seed agree to a few parts in a thousand of
/// the KL divergence, not bit for bit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tsne {
    /// The effective number of neighbours each point keeps (must stay below
    /// a third of the number of points).
    pub perplexity: f64,
    /// Gradient steps (the first 250, or a quarter of a shorter run, with
    /// the early exaggeration of P).
    pub epochs: usize,
    /// How each step's gradient is computed.
    pub gradient: TsneGradient,
    /// Step size.
    pub learning_rate: f64,
    /// Seed of the initial embedding, N(0, 1e-4) as the original code draws it.
    pub seed: u64,
}

impl Default for Tsne {
    /// Perplexity 30, 1,000 epochs, Barnes-Hut at theta 0.5, learning rate
    /// 200, seed 0 (the original implementation's settings).
    fn default() -> Self {
        Tsne {
            perplexity: 30.0,
            epochs: 1000,
            gradient: TsneGradient::BarnesHut { theta: 0.5 },
            learning_rate: 200.0,
            seed: 0,
        }
    }
}

/// A 2-D embedding and how well it kept the neighbourhoods.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// One point per input row.
    pub points: Vec<(f64, f64)>,
}

impl Tsne {
    /// Embeds the rows of `x` (`[N, ...]`, flattened to `[N, D]`) in 2-D.
    pub fn run(&self, x: &Tensor) -> Result<Embedding> {
        let rows = rows(x)?;
        // rows() checked that x is [N, ...] with N >= 1.
        let n = x.size()[0] as usize;
        if !(self.perplexity.is_finite() && self.perplexity > 0.0) {
            return Err(Error::invalid(format!(
                "the perplexity must be finite and > 0, got {}",
                self.perplexity
            )));
        }
        if n < 2 || (n - 1) as f64 <= 3.0 * self.perplexity {
            return Err(Error::invalid(format!(
                "a perplexity of {} needs more than {} points, got {n}: lower it below {:.1}",
                self.perplexity,
                (3.0 * self.perplexity).ceil() as usize + 1,
                (n as f64 - 1.0) / 3.0
            )));
        }
        if self.epochs == 0 {
            return Err(Error::invalid("t-SNE needs at least one epoch, got 0"));
        }
        if let TsneGradient::BarnesHut { theta } = self.gradient {
            if !(theta.is_finite() && theta > 0.0) {
                return Err(Error::invalid(format!(
                    "Barnes-Hut needs a finite theta > 0 (TsneGradient::Exact for theta 0), got {theta}"
                )));
            }
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::invalid(format!(
                "the learning rate must be finite and > 0, got {}",
                self.learning_rate
            )));
        }
        let start = with_torch_seed(self.seed, || {
            Tensor::randn([n as i64, 2], (Kind::Double, Device::Cpu)) * 1e-4
        });
        let lying = 250.min(self.epochs / 4);
        let input = Tensor::from_slice(&rows).f_view([n as i64, -1])?;
        let y = match self.gradient {
            TsneGradient::Interpolated => {
                let p = affinity::nearest_neighbours(&input, self.perplexity)?;
                let schedule = descent::Schedule {
                    epochs: self.epochs,
                    early: lying,
                    learning_rate: self.learning_rate,
                };
                Vec::<f64>::try_from(descent::descend(&p, &start, &schedule)?.f_flatten(0, -1)?)?
            }
            TsneGradient::Exact | TsneGradient::BarnesHut { .. } => {
                let start = Vec::<f64>::try_from(start.f_flatten(0, -1)?)?;
                let slices: Vec<&[f64]> = rows.chunks(rows.len() / n).collect();
                let mut tsne: bhtsne::tSNE<f64, &[f64]> = bhtsne::tSNE::new(&slices);
                tsne.embedding_dim(2)
                    .perplexity(self.perplexity)
                    .epochs(self.epochs)
                    .learning_rate(self.learning_rate)
                    .stop_lying_epoch(lying)
                    .momentum_switch_epoch(lying)
                    .initial_embedding(start);
                if let TsneGradient::BarnesHut { theta } = self.gradient {
                    tsne.barnes_hut(theta, |a, b| euclidean(a, b));
                } else {
                    tsne.exact(|a, b| euclidean(a, b));
                }
                tsne.embedding()
            }
        };
        if y.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(format!(
                "the embedding diverged (non-finite points): lower the learning rate ({})",
                self.learning_rate
            )));
        }
        Ok(Embedding {
            points: y.chunks(2).map(|p| (p[0], p[1])).collect(),
        })
    }
}

/// The rows of `x` as one flat f64 buffer, checked.
fn rows(x: &Tensor) -> Result<Vec<f64>> {
    crate::check::defined(x, "features")?;
    if x.dim() < 2 || x.size()[0] == 0 || x.numel() == 0 {
        return Err(Error::shape(
            "features",
            "[N, D] (or [N, ...]) with N >= 1",
            crate::check::shape_str(&x.size()),
        ));
    }
    let flat = x
        .f_flatten(1, -1)?
        .f_to_kind(Kind::Double)?
        .f_to_device(Device::Cpu)?
        .f_contiguous()?;
    let values = Vec::<f64>::try_from(flat.f_flatten(0, -1)?)?;
    if values.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid(
            "the features hold NaN or infinite values; t-SNE needs finite ones",
        ));
    }
    Ok(values)
}

/// Up to `count` indices of `points`, in input order, each at least
/// `0.8 * sqrt(area / count)` from those taken before (the area of the
/// points' bounding box; for points on a line, 0.8 of its length over
/// `count`), so that thumbnails rarely overlap.
fn spread_out(points: &[(f64, f64)], count: usize) -> Vec<usize> {
    if count == 0 || points.is_empty() {
        return Vec::new();
    }
    let span = |f: fn(&(f64, f64)) -> f64| {
        let (lo, hi) = points
            .iter()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        hi - lo
    };
    let (sx, sy) = (span(|p| p.0), span(|p| p.1));
    // Points on a line have no area: then their length shared out.
    let gap = (0.8
        * (sx * sy / count as f64)
            .sqrt()
            .max(sx.max(sy) / count as f64))
    .max(f64::MIN_POSITIVE);
    let mut taken: Vec<usize> = Vec::with_capacity(count);
    for (i, &(x, y)) in points.iter().enumerate() {
        if taken.len() == count {
            break;
        }
        let clear = taken.iter().all(|&j| {
            let (u, v) = points[j];
            (x - u).hypot(y - v) >= gap
        });
        if clear {
            taken.push(i);
        }
    }
    taken
}

/// One image `[C, H, W]` (C = 1 or 3, values in [0, 1]) as 8-bit RGB.
fn rgb_image(img: &Tensor) -> Result<image::RgbImage> {
    let (c, h, w) = (img.size()[0], img.size()[1], img.size()[2]);
    let rgb = if c == 1 {
        img.f_expand([3, h, w], false)?
    } else {
        img.shallow_clone()
    };
    let bytes = rgb
        .f_to_kind(Kind::Float)?
        .f_to_device(Device::Cpu)?
        .f_nan_to_num(0.0, None, None)?
        .f_clamp(0.0, 1.0)?
        .f_mul_scalar(255.0)?
        .f_round()?
        .f_to_kind(Kind::Uint8)?
        .f_permute([1i64, 2, 0].as_slice())?
        .f_contiguous()?;
    image::RgbImage::from_raw(
        w as u32,
        h as u32,
        Vec::<u8>::try_from(bytes.f_flatten(0, -1)?)?,
    )
    .ok_or_else(|| Error::invalid("image buffer of the wrong size"))
}

fn euclidean(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

impl Embedding {
    /// The points coloured by class (`labels` index `classes`), with a
    /// legend: DeCAF's Fig. 1.
    pub fn scatter(&self, labels: &Tensor, classes: &[String]) -> Result<Scatter> {
        let labels = Vec::<i64>::try_from(labels.f_to_device(Device::Cpu)?)?;
        if labels.len() != self.points.len() {
            return Err(Error::invalid(format!(
                "{} labels for {} points",
                labels.len(),
                self.points.len()
            )));
        }
        if let Some(bad) = labels
            .iter()
            .find(|&&l| l < 0 || l as usize >= classes.len())
        {
            return Err(Error::invalid(format!(
                "label {bad} has no class name among {}",
                classes.len()
            )));
        }
        let ids: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
        let names: Vec<&str> = classes.iter().map(String::as_str).collect();
        Ok(Scatter::new(self.points.iter().copied()).classes(&ids, &names))
    }

    /// [`scatter`](Self::scatter) with some of the images drawn at their
    /// points (`images` `[N, C, H, W]`, one per point, C = 1 or 3, values
    /// in [0, 1]), each scaled to `side` pixels square: up to `count`
    /// points spread over the map, taken in input order when they lie at
    /// least `0.8 * sqrt(area / count)` from every point already taken.
    pub fn scatter_with_thumbnails(
        &self,
        labels: &Tensor,
        classes: &[String],
        images: &Tensor,
        count: usize,
        side: u32,
    ) -> Result<Scatter> {
        let scatter = self.scatter(labels, classes)?;
        let (n, c, _, _) = crate::check::images(images, "images")?;
        crate::check::floating(images, "images")?;
        if n as usize != self.points.len() || !(c == 1 || c == 3) {
            return Err(Error::shape(
                "images",
                format!("[{}, 1 or 3, H, W], one per point", self.points.len()),
                crate::check::shape_str(&images.size()),
            ));
        }
        if side == 0 || side > 256 {
            return Err(Error::invalid(format!(
                "thumbnails need a side of 1 to 256 pixels, got {side}"
            )));
        }
        let chosen = spread_out(&self.points, count);
        let mut pictures = Vec::with_capacity(chosen.len());
        for i in chosen {
            let picture = rgb_image(&images.f_get(i as i64)?)?;
            let small = image::imageops::resize(
                &picture,
                side,
                side,
                image::imageops::FilterType::Triangle,
            );
            pictures.push((i, small));
        }
        Ok(scatter.thumbnails(pictures))
    }

    /// How well the map keeps classes together, as one number: the share
    /// of points whose class is the most common class among their `k`
    /// nearest other points in the map (leave-one-out k-nearest-neighbour
    /// accuracy; a tie goes to the lowest class index, as scikit-learn's
    /// `KNeighborsClassifier` breaks it). DeCAF's Fig. 1 is read by eye
    /// for "semantic clustering"; this is the number behind that reading.
    /// `labels` `[N]` are class indices; 1 <= k < N.
    pub fn neighbour_accuracy(&self, labels: &Tensor, k: usize) -> Result<f64> {
        let n = self.points.len();
        let labels = Vec::<i64>::try_from(labels.f_to_device(Device::Cpu)?)?;
        if labels.len() != n {
            return Err(Error::invalid(format!(
                "neighbour_accuracy needs one label per point: {} labels for {n} points",
                labels.len()
            )));
        }
        if k == 0 || k >= n {
            return Err(Error::invalid(format!(
                "neighbour_accuracy needs 1 <= k < the {n} points, got k = {k}"
            )));
        }
        if let Some(bad) = labels.iter().find(|&&l| l < 0) {
            return Err(Error::invalid(format!(
                "labels must be class indices >= 0, got {bad}"
            )));
        }
        let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
        let mut hits = 0usize;
        let mut others: Vec<(f64, usize)> = Vec::with_capacity(n - 1);
        for (i, &(xi, yi)) in self.points.iter().enumerate() {
            others.clear();
            others.extend(
                self.points
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(j, &(xj, yj))| ((xi - xj).powi(2) + (yi - yj).powi(2), j)),
            );
            others.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
            let mut votes = vec![0usize; classes];
            for &(_, j) in &others[..k] {
                votes[labels[j] as usize] += 1;
            }
            // The first largest count: the lowest class index wins a tie.
            let best = votes
                .iter()
                .enumerate()
                .fold((0, 0), |acc, (c, &v)| if v > acc.1 { (c, v) } else { acc })
                .0;
            hits += usize::from(best as i64 == labels[i]);
        }
        Ok(hits as f64 / n as f64)
    }

    /// The number of points, when `x` has one row per point (what
    /// `measure` compares with the embedding), else an error naming it.
    fn embedded_rows(&self, x: &Tensor, measure: &str) -> Result<usize> {
        let n = self.points.len();
        if x.size().first() != Some(&(n as i64)) {
            return Err(Error::invalid(format!(
                "{measure} needs the {n} rows that were embedded, got {:?}",
                x.size()
            )));
        }
        Ok(n)
    }

    /// The KL divergence `KL(P || Q)` that t-SNE minimises, between the
    /// input's neighbour distribution P (Gaussian conditionals over all
    /// other points, calibrated to `perplexity`, as scikit-learn computes
    /// it) and the embedding's Q (Student t), computed exactly over every
    /// pair whatever gradient the run used: `O(N^2)` time (about 20 s for
    /// 10,000 points on 2 cores), `O(N)` memory. `x` is the `[N, ...]`
    /// input that was embedded, `perplexity` the run's.
    pub fn kl_divergence(&self, x: &Tensor, perplexity: f64) -> Result<f64> {
        let n = self.embedded_rows(x, "the KL divergence")?;
        if !(perplexity.is_finite() && perplexity > 0.0 && perplexity < n as f64 - 1.0) {
            return Err(Error::invalid(format!(
                "the perplexity must be finite, > 0 and below the {} other points, got {perplexity}",
                n.saturating_sub(1)
            )));
        }
        let input = Tensor::from_slice(&rows(x)?).f_view([n as i64, -1])?;
        let flat: Vec<f64> = self.points.iter().flat_map(|&(a, b)| [a, b]).collect();
        exact_kl(
            &input,
            &Tensor::from_slice(&flat).f_view([n as i64, 2])?,
            perplexity,
        )
    }

    /// Trustworthiness (Venna & Kaski 2001) with `k` neighbours, as
    /// scikit-learn computes it: 1 when every embedded neighbourhood holds
    /// only true neighbours of the input `x`, lower as false neighbours
    /// ranked far in the input intrude.
    pub fn trustworthiness(&self, x: &Tensor, k: usize) -> Result<f64> {
        let n = self.embedded_rows(x, "trustworthiness")?;
        if k == 0 || 2 * k >= n {
            return Err(Error::invalid(format!(
                "trustworthiness needs 1 <= k < n / 2, got k = {k} for {n} points"
            )));
        }
        // `rows` and `points` hold `n` rows each (checked by
        // `embedded_rows`): the views, ranks and gathers below work on
        // tensors made here and cannot fail.
        let input = Tensor::from_slice(&rows(x)?).view([n as i64, -1]);
        let flat: Vec<f64> = self.points.iter().flat_map(|&(a, b)| [a, b]).collect();
        let embedded = Tensor::from_slice(&flat).view([n as i64, 2]);
        // Ranks in the input: rank[i][j] = position of j among i's
        // neighbours by distance, from 1 (i itself last, as scikit-learn
        // puts it).
        let din = squared_distances(&input)?;
        let _ = din.diagonal(0, 0, 1).fill_(f64::INFINITY);
        let order_in = din.argsort(1, false);
        let mut rank = Tensor::zeros([n as i64, n as i64], (Kind::Int64, Device::Cpu));
        let positions = Tensor::arange_start(1, n as i64 + 1, (Kind::Int64, Device::Cpu))
            .unsqueeze(0)
            .expand([n as i64, n as i64], false);
        let _ = rank.scatter_(1, &order_in, &positions);
        // The k nearest in the embedding, the point itself left out.
        let d = squared_distances(&embedded)?;
        let _ = d.diagonal(0, 0, 1).fill_(f64::INFINITY);
        let near = d.argsort(1, false).narrow(1, 0, k as i64);
        let penalty = (rank.gather(1, &near, false) - k as i64)
            .clamp_min(0)
            .sum(Kind::Double)
            .double_value(&[]);
        let (n, k) = (n as f64, k as f64);
        Ok(1.0 - penalty * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)))
    }
}

/// KL(P || Q) of embedding `y [N, 2]` for input `x [N, D]` (both f64):
/// P from Gaussian conditionals over all other points, each calibrated to
/// the perplexity, symmetrised and normalised, each entry at least f64's
/// epsilon (as scikit-learn's exact method); Q the Student-t similarities
/// of the embedding. Only each row's precision and log normaliser are
/// kept, so memory is `O(N * CHUNK)` however many points there are: a
/// block of rows gives `p_{j|i}` from its own precisions and `p_{i|j}`
/// from the columns', over the same distances.
fn exact_kl(x: &Tensor, y: &Tensor, perplexity: f64) -> Result<f64> {
    let n = x.size()[0];
    let (xsq, ysq) = (squared_norms(x)?, squared_norms(y)?);
    let blocks = || {
        (0..n)
            .step_by(CHUNK as usize)
            .map(move |s| (s, CHUNK.min(n - s)))
    };
    let own = |start: i64, c: i64| -> Result<Tensor> {
        Ok(Tensor::f_arange_start(start, start + c, (Kind::Int64, Device::Cpu))?.f_unsqueeze(1)?)
    };
    // No point is its own neighbour.
    let input_block =
        |start: i64, c: i64| -> Result<Tensor> {
            Ok(distances_from(x, &xsq, start, c)?.f_scatter_value(
                1,
                &own(start, c)?,
                f64::INFINITY,
            )?)
        };
    let (mut betas, mut norms) = (Vec::new(), Vec::new());
    for (start, c) in blocks() {
        let d = input_block(start, c)?;
        let beta = log_precisions(&d, perplexity)?.f_exp()?;
        norms.push(
            beta.f_mul(&d)?
                .f_neg()?
                .f_logsumexp([1i64].as_slice(), true)?,
        );
        betas.push(beta);
    }
    let (beta, norm) = (Tensor::f_cat(&betas, 0)?, Tensor::f_cat(&norms, 0)?);
    let (beta_t, norm_t) = (beta.f_tr()?, norm.f_tr()?);
    let sum = |t: &Tensor| -> Result<f64> { Ok(t.f_sum(Kind::Double)?.f_double_value(&[])?) };
    let (mut z, mut mass, mut p_log_pq) = (0.0, 0.0, 0.0);
    for (start, c) in blocks() {
        let d = input_block(start, c)?;
        let forward = beta
            .f_narrow(0, start, c)?
            .f_mul(&d)?
            .f_add(&norm.f_narrow(0, start, c)?)?
            .f_neg()?
            .f_exp()?;
        let backward = beta_t.f_mul(&d)?.f_add(&norm_t)?.f_neg()?.f_exp()?;
        let p = forward
            .f_add(&backward)?
            .f_div_scalar(2.0 * n as f64)?
            .f_clamp_min(f64::EPSILON)?;
        // Q = q / Z with q_ij = 1 / (1 + |y_i - y_j|^2), i != j.
        let q = distances_from(y, &ysq, start, c)?
            .f_add_scalar(1.0)?
            .f_reciprocal()?;
        let off = Tensor::f_ones([c, n], (Kind::Double, Device::Cpu))?.f_scatter_value(
            1,
            &own(start, c)?,
            0.0,
        )?;
        z += sum(&q.f_mul(&off)?)?;
        mass += sum(&p.f_mul(&off)?)?;
        p_log_pq += sum(&p.f_mul(&p.f_log()?.f_sub(&q.f_log()?)?)?.f_mul(&off)?)?;
    }
    // sum P log(P / (q / Z)) = sum P log(P / q) + (sum P) log Z
    Ok(p_log_pq + mass * z.ln())
}

/// Pairwise squared distances `[N, N]` of rows `[N, D]`.
fn squared_distances(x: &Tensor) -> Result<Tensor> {
    distances_from(x, &squared_norms(x)?, 0, x.size()[0])
}

#[cfg(test)]
mod tests {
    use super::spread_out;

    #[test]
    fn spread_out_takes_points_in_order_that_keep_their_distance() {
        // A 10x10 square: four thumbnails want 4 units between them.
        let points = [
            (0.0, 0.0),
            (1.0, 1.0),
            (10.0, 0.0),
            (0.0, 10.0),
            (5.0, 5.0),
            (10.0, 10.0),
        ];
        assert_eq!(spread_out(&points, 4), vec![0, 2, 3, 4]);
        assert_eq!(spread_out(&points, 2), vec![0, 2]);
        assert!(spread_out(&points, 0).is_empty());
        // One point repeated: the first copy only.
        assert_eq!(spread_out(&[(1.0, 1.0); 5], 3), vec![0]);
    }
}
