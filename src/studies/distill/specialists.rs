//! Specialists (Hinton et al., section 5): a generalist's confusable
//! classes grouped by clustering the covariance of its predictions, a
//! specialist per group trained on that group plus a dustbin class for all
//! others, and the full distribution that agrees best with the generalist
//! and the active specialists at test time.

use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::runtime::rng::seeded;
use crate::train::Lbfgs;
use rand::seq::SliceRandom;
use tch::{Device, Kind, Tensor};

/// Groups of classes the generalist predicts together: the covariance
/// `[K, K]` of its predicted distributions `probabilities` `[N, K]` over
/// held-out examples, its rows clustered into `groups` clusters by
/// k-means (k-means++ start from `seed`, Lloyd iterations to a fixed
/// point). Each class is in exactly one group; groups are sorted by their
/// smallest class. The paper's specialists take the groups of two or more
/// classes.
pub fn confusable_groups(
    probabilities: &Tensor,
    groups: usize,
    seed: u64,
) -> Result<Vec<Vec<i64>>> {
    crate::check::defined(probabilities, "probabilities")?;
    let size = probabilities.size();
    let (n, k) = match size[..] {
        [n, k] if n >= 2 && k >= 1 => (n, k),
        _ => {
            return Err(Error::shape(
                "probabilities",
                "[N, K] predicted distributions of at least 2 examples",
                crate::check::shape_str(&size),
            ))
        }
    };
    if groups == 0 || groups as i64 > k {
        return Err(Error::invalid(format!(
            "{groups} groups of {k} classes: ask for 1 to {k}"
        )));
    }
    crate::check::floating(probabilities, "probabilities")?;
    let p = probabilities
        .f_to_kind(Kind::Double)?
        .f_to_device(Device::Cpu)?;
    crate::check::finite(&p, "probabilities")?;
    let centred = p.f_sub(&p.f_mean_dim([0i64].as_slice(), true, Kind::Double)?)?;
    let covariance = centred
        .f_tr()?
        .f_matmul(&centred)?
        .f_div_scalar((n - 1) as f64)?;
    let rows: Vec<Vec<f64>> = (0..k)
        .map(|i| Vec::<f64>::try_from(covariance.f_get(i)?).map_err(Error::from))
        .collect::<Result<_>>()?;
    let labels = kmeans(&rows, groups, seed);
    let mut out: Vec<Vec<i64>> = vec![Vec::new(); groups];
    for (class, &g) in labels.iter().enumerate() {
        out[g].push(class as i64);
    }
    out.retain(|g| !g.is_empty());
    out.sort();
    Ok(out)
}

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Cluster labels of `rows` (k-means++ start, Lloyd to a fixed point).
/// A few dozen points at most: the classes of a dataset.
fn kmeans(rows: &[Vec<f64>], k: usize, seed: u64) -> Vec<usize> {
    use rand::Rng;
    let mut rng = seeded(seed);
    let mut centres: Vec<Vec<f64>> = vec![rows[rng.gen_range(0..rows.len())].clone()];
    while centres.len() < k {
        let d: Vec<f64> = rows
            .iter()
            .map(|r| {
                centres
                    .iter()
                    .map(|c| squared_distance(r, c))
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        let total: f64 = d.iter().sum();
        let next = if total > 0.0 {
            let mut target = rng.gen_range(0.0..total);
            d.iter()
                .position(|&x| {
                    target -= x;
                    target < 0.0
                })
                .unwrap_or(rows.len() - 1)
        } else {
            // Every row is already a centre's twin: any other row will do.
            centres.len()
        };
        centres.push(rows[next].clone());
    }
    let mut labels = vec![usize::MAX; rows.len()];
    for _ in 0..1000 {
        let new: Vec<usize> = rows
            .iter()
            .map(|r| {
                (0..k)
                    .min_by(|&a, &b| {
                        squared_distance(r, &centres[a])
                            .total_cmp(&squared_distance(r, &centres[b]))
                    })
                    .unwrap_or(0)
            })
            .collect();
        if new == labels {
            break;
        }
        labels = new;
        for (c, centre) in centres.iter_mut().enumerate() {
            let members: Vec<&Vec<f64>> = rows
                .iter()
                .zip(&labels)
                .filter(|(_, &l)| l == c)
                .map(|(r, _)| r)
                .collect();
            if members.is_empty() {
                continue;
            }
            for (j, v) in centre.iter_mut().enumerate() {
                *v = members.iter().map(|m| m[j]).sum::<f64>() / members.len() as f64;
            }
        }
    }
    labels
}

/// The data a specialist for `group` trains on: the group's classes
/// relabelled `0..g` in the order given and every other class the dustbin
/// `g`. The training split keeps every example of the group and as many
/// others drawn at random from `seed` (the paper's half-and-half mix); the
/// test split is relabelled whole.
pub fn specialist_data(data: &Dataset, group: &[i64], seed: u64) -> Result<Dataset> {
    let k = data.num_classes();
    if group.is_empty() || group.len() as i64 >= k {
        return Err(Error::invalid(format!(
            "a specialist's group needs 1 to {} of the {k} classes, got {}",
            k - 1,
            group.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(bad) = group
        .iter()
        .find(|&&c| !(0..k).contains(&c) || !seen.insert(c))
    {
        return Err(Error::invalid(format!(
            "class {bad} is out of range (0..{k}) or repeated in the group {group:?}"
        )));
    }
    let dustbin = group.len() as i64;
    let mut map = vec![dustbin; k as usize];
    for (i, &c) in group.iter().enumerate() {
        map[c as usize] = i as i64;
    }
    let map = Tensor::from_slice(&map);
    let relabel = |s: &Split| -> Result<Split> {
        let labels = map.f_index_select(0, &s.labels().f_to_device(Device::Cpu)?)?;
        Split::new(
            s.images().shallow_clone(),
            labels.f_to_device(s.labels().device())?,
        )
    };
    let train = relabel(&data.train)?;
    let labels = Vec::<i64>::try_from(train.labels().f_to_device(Device::Cpu)?)?;
    let (mut inside, mut outside): (Vec<i64>, Vec<i64>) =
        (0..labels.len() as i64).partition(|&i| labels[i as usize] < dustbin);
    outside.shuffle(&mut seeded(seed));
    outside.truncate(inside.len());
    inside.extend(outside);
    inside.sort_unstable();
    let mut classes: Vec<String> = group
        .iter()
        .map(|&c| data.classes[c as usize].clone())
        .collect();
    classes.push("dustbin".to_string());
    Dataset::new(
        format!("{} specialist {:?}", data.name, group),
        train.select(&inside)?,
        relabel(&data.test)?,
        classes,
    )
}

/// The distribution `q` `[N, K]` that agrees best with the generalist and
/// the specialists (Hinton et al., eq. 5): for each example, the
/// specialists whose group holds one of the generalist's `top_n` most
/// probable classes are active, and `q` minimises
/// `KL(p_g ‖ q) + Σ_active KL(p_m ‖ q_m)`, where `q_m` is `q` over the
/// specialist's classes with the rest summed into its dustbin.
/// `generalist` is `[N, K]` probabilities; each specialist is its group
/// and its `[N, g + 1]` probabilities (dustbin last). Solved by L-BFGS on
/// the logits of `q`, started from the generalist's.
pub fn combine(
    generalist: &Tensor,
    specialists: &[(Vec<i64>, Tensor)],
    top_n: usize,
) -> Result<Tensor> {
    crate::check::defined(generalist, "generalist probabilities")?;
    let size = generalist.size();
    let (n, k) = match size[..] {
        [n, k] if n >= 1 && k >= 2 => (n, k),
        _ => {
            return Err(Error::shape(
                "generalist probabilities",
                "[N, K] with N >= 1 and K >= 2",
                crate::check::shape_str(&size),
            ))
        }
    };
    if top_n == 0 || top_n as i64 > k {
        return Err(Error::invalid(format!(
            "top_n picks 1 to {k} of the generalist's classes, got {top_n}"
        )));
    }
    let pg = probability_rows(generalist, "generalist probabilities")?;
    let top = pg.f_topk(top_n as i64, 1, true, true)?.1;
    let mut terms = Vec::with_capacity(specialists.len());
    for (m, (group, probs)) in specialists.iter().enumerate() {
        let what = format!("specialist {m}'s probabilities");
        if group.is_empty() || group.iter().any(|&c| !(0..k).contains(&c)) {
            return Err(Error::invalid(format!(
                "specialist {m}'s group {group:?} must hold classes of 0..{k}"
            )));
        }
        if probs.size() != [n, group.len() as i64 + 1] {
            return Err(Error::shape(
                what,
                format!("[{n}, {}] (its classes, then the dustbin)", group.len() + 1),
                crate::check::shape_str(&probs.size()),
            ));
        }
        let pm = probability_rows(probs, &what)?;
        let members = Tensor::from_slice(group);
        // Active where one of the generalist's top classes is in the group.
        let active = top
            .f_unsqueeze(2)?
            .f_eq_tensor(&members.f_view([1, 1, -1])?)?
            .f_to_kind(Kind::Double)?
            .f_sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Double)?
            .f_clamp_max(1.0)?;
        // [K, g + 1]: class c to its column, or to the dustbin (last).
        let width = group.len() + 1;
        let mut cells = vec![0.0; k as usize * width];
        for c in 0..k as usize {
            let column = group
                .iter()
                .position(|&g| g == c as i64)
                .unwrap_or(width - 1);
            cells[c * width + column] = 1.0;
        }
        let projection = Tensor::from_slice(&cells).f_view([k, width as i64])?;
        terms.push((pm, projection, active));
    }
    let objective = |y: &Tensor| -> Result<(f64, Tensor)> {
        let y = y.f_view([n, k])?.f_detach()?.f_set_requires_grad(true)?;
        let log_q = y.f_log_softmax(1, Kind::Double)?;
        // Cross-entropies: KL minus the targets' fixed entropies.
        let mut loss = pg.f_mul(&log_q)?.f_sum(Kind::Double)?.f_neg()?;
        let q = log_q.f_exp()?;
        for (pm, projection, active) in &terms {
            let qm = q.f_matmul(projection)?.f_clamp_min(1e-300)?.f_log()?;
            let per_example =
                pm.f_mul(&qm)?
                    .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Double)?;
            loss = loss.f_sub(&per_example.f_mul(active)?.f_sum(Kind::Double)?)?;
        }
        loss.f_backward()?;
        let value = loss.f_double_value(&[])?;
        Ok((value, y.f_grad()?.f_view([-1])?))
    };
    let start = pg.f_clamp_min(1e-300)?.f_log()?.f_view([-1])?;
    let solver = Lbfgs {
        gradient_tolerance: 1e-9,
        ..Lbfgs::default()
    };
    let found = solver.minimize(&start, objective)?;
    Ok(found
        .x
        .f_view([n, k])?
        .f_softmax(1, Kind::Double)?
        .f_to_kind(Kind::Float)?)
}

/// `p` as f64 rows on the CPU, checked to be probability distributions.
fn probability_rows(p: &Tensor, what: &str) -> Result<Tensor> {
    crate::check::floating(p, what)?;
    let p = p.f_to_kind(Kind::Double)?.f_to_device(Device::Cpu)?;
    crate::check::finite(&p, what)?;
    let sums = p.f_sum_dim_intlist([1i64].as_slice(), false, Kind::Double)?;
    let worst = sums
        .f_sub_scalar(1.0)?
        .f_abs()?
        .f_max()?
        .f_double_value(&[])?;
    let lowest = p.f_min()?.f_double_value(&[])?;
    if worst > 1e-3 || lowest < 0.0 {
        return Err(Error::invalid(format!(
            "{what} must be probabilities, rows of values >= 0 that sum to 1: the lowest value is {lowest}, and a row's sum is off 1 by {worst:.2e}"
        )));
    }
    Ok(p)
}
