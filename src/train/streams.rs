//! One epoch's batches from an objective's data streams: the first stream
//! in a shuffled pass (its batches are the epoch's steps), the others drawn
//! alongside in batches of the same size, each from its own shuffle that
//! starts again, reshuffled, whenever the stream runs out.
//!
//! Every order is fixed by the run's seed, the epoch and the stream, so a
//! run resumed at an epoch boundary draws what the uninterrupted run drew.

use crate::data::{Order, Split};
use crate::error::{Error, Result};
use crate::runtime::rng::mix;
use tch::Tensor;

/// The streams of a run and how they are cut into batches.
pub(super) struct Streams {
    pub splits: Vec<Split>,
    pub batch_size: usize,
    pub drop_last: bool,
    pub seed: u64,
}

/// The examples of one stream in one step, on the split's device.
pub(super) struct Drawn {
    pub images: Tensor,
    pub labels: Tensor,
    pub indices: Vec<i64>,
}

impl Streams {
    /// Checks that there is something to draw from.
    pub fn check(&self) -> Result<()> {
        if self.splits.is_empty() {
            return Err(Error::invalid(
                "the objective has no data streams to train on",
            ));
        }
        if let Some(i) = self.splits.iter().position(Split::is_empty) {
            return Err(Error::invalid(format!(
                "data stream {i} of the objective has no examples"
            )));
        }
        // A stream drawn alongside fills each batch from its own shuffle;
        // with fewer examples than a batch, a batch would hold some twice.
        if let Some((i, s)) = self
            .splits
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, s)| s.len() < self.batch_size)
        {
            return Err(Error::invalid(format!(
                "data stream {i} has {} examples, fewer than one batch of {}: a batch would repeat examples (use a smaller batch)",
                s.len(),
                self.batch_size
            )));
        }
        if self.per_epoch() == 0 {
            return Err(Error::invalid(
                "drop_last leaves no batch: the batch is larger than the training split",
            ));
        }
        Ok(())
    }

    /// Steps per epoch: batches of the first stream.
    pub fn per_epoch(&self) -> usize {
        let n = self.splits[0].len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The batches of epoch `epoch`, one `Vec` (a batch per stream) per step.
    pub fn epoch(&self, epoch: usize) -> EpochDraw<'_> {
        let n = self.splits[0].len();
        let mut primary = Order::Shuffled {
            seed: self.seed,
            epoch: epoch as u64,
        }
        .positions(n);
        if self.drop_last {
            primary.truncate(n - n % self.batch_size);
        }
        let followers = (1..self.splits.len())
            .map(|s| Follower {
                seed: mix(self.seed, s as u64),
                epoch: epoch as u64,
                cycle: 0,
                order: Vec::new(),
                pos: 0,
            })
            .collect();
        EpochDraw {
            streams: self,
            primary,
            pos: 0,
            followers,
        }
    }
}

/// A secondary stream's place in its endless shuffled sequence.
struct Follower {
    seed: u64,
    epoch: u64,
    cycle: u64,
    order: Vec<i64>,
    pos: usize,
}

impl Follower {
    /// The next `k` positions of a split of `n` examples.
    fn take(&mut self, k: usize, n: usize) -> Vec<i64> {
        let mut out = Vec::with_capacity(k);
        while out.len() < k {
            if self.pos == self.order.len() {
                self.order = Order::Shuffled {
                    seed: self.seed,
                    epoch: mix(self.epoch, self.cycle),
                }
                .positions(n);
                self.cycle += 1;
                self.pos = 0;
            }
            let end = (self.pos + k - out.len()).min(self.order.len());
            out.extend_from_slice(&self.order[self.pos..end]);
            self.pos = end;
        }
        out
    }
}

/// The iterator [`Streams::epoch`] returns.
pub(super) struct EpochDraw<'a> {
    streams: &'a Streams,
    primary: Vec<i64>,
    pos: usize,
    followers: Vec<Follower>,
}

impl Iterator for EpochDraw<'_> {
    type Item = Vec<Drawn>;

    fn next(&mut self) -> Option<Vec<Drawn>> {
        if self.pos >= self.primary.len() {
            return None;
        }
        let end = (self.pos + self.streams.batch_size).min(self.primary.len());
        let first = self.primary[self.pos..end].to_vec();
        self.pos = end;
        let k = first.len();
        let splits = &self.streams.splits;
        let mut drawn = Vec::with_capacity(splits.len());
        // Positions are permutations of each split's 0..len.
        let (images, labels) = splits[0].gather(&first);
        drawn.push(Drawn {
            images,
            labels,
            indices: first,
        });
        for (f, split) in self.followers.iter_mut().zip(&splits[1..]) {
            let idx = f.take(k, split.len());
            let (images, labels) = split.gather(&idx);
            drawn.push(Drawn {
                images,
                labels,
                indices: idx,
            });
        }
        Some(drawn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn split(n: i64) -> Split {
        Split::new(
            Tensor::arange(n, (Kind::Float, Device::Cpu)).view([n, 1, 1, 1]),
            Tensor::zeros([n], (Kind::Int64, Device::Cpu)),
        )
        .unwrap()
    }

    #[test]
    fn the_first_stream_is_one_shuffled_pass_as_split_batches_gives() {
        let s = Streams {
            splits: vec![split(10)],
            batch_size: 4,
            drop_last: false,
            seed: 3,
        };
        let ours: Vec<Vec<i64>> = s.epoch(2).map(|d| d[0].indices.clone()).collect();
        let theirs: Vec<Vec<i64>> = split(10)
            .batches(4, Order::Shuffled { seed: 3, epoch: 2 }, false)
            .unwrap()
            .map(|(x, _)| {
                Vec::<f32>::try_from(x.flatten(0, -1))
                    .unwrap()
                    .iter()
                    .map(|&v| v as i64)
                    .collect()
            })
            .collect();
        assert_eq!(ours, theirs);
        assert_eq!(ours.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
    }

    #[test]
    fn a_shorter_second_stream_cycles_through_every_example_in_equal_batches() {
        let s = Streams {
            splits: vec![split(12), split(5)],
            batch_size: 4,
            drop_last: false,
            seed: 1,
        };
        let steps: Vec<Vec<Drawn>> = s.epoch(0).collect();
        assert_eq!(steps.len(), 3);
        let second: Vec<i64> = steps.iter().flat_map(|d| d[1].indices.clone()).collect();
        assert_eq!(second.len(), 12, "same batch size as the first stream");
        for (i, d) in steps.iter().enumerate() {
            let shown = Vec::<f32>::try_from(d[1].images.flatten(0, -1)).unwrap();
            let want: Vec<f32> = d[1].indices.iter().map(|&v| v as f32).collect();
            assert_eq!(
                shown, want,
                "step {i}: the images are those at the positions"
            );
        }
        // Each full cycle of 5 is a permutation of the stream.
        for cycle in second.chunks(5).filter(|c| c.len() == 5) {
            let mut c = cycle.to_vec();
            c.sort();
            assert_eq!(c, vec![0, 1, 2, 3, 4]);
        }
        // The same epoch draws the same; another epoch draws otherwise.
        let again: Vec<i64> = s.epoch(0).flat_map(|d| d[1].indices.clone()).collect();
        let other: Vec<i64> = s.epoch(1).flat_map(|d| d[1].indices.clone()).collect();
        assert_eq!(second, again);
        assert_ne!(second, other);
    }
}
