//! Seeded randomness that means the same on every platform and every run.
//!
//! Shuffles, splits and random transforms draw from ChaCha8 seeded by the
//! user, not from libtorch's global generator, so that a seed given to one call
//! is not disturbed by whatever else ran before it in the kernel.

use rand::SeedableRng;

/// The generator used for all seeded choices in the library.
pub type Rng = rand_chacha::ChaCha8Rng;

/// A generator for `seed`.
pub fn seeded(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// A generator for `seed` on an independent stream `stream` (e.g. the epoch
/// number): the same `(seed, stream)` always gives the same sequence, and
/// different streams do not overlap.
pub fn seeded_stream(seed: u64, stream: u64) -> Rng {
    let mut rng = seeded(seed);
    rng.set_stream(stream);
    rng
}
