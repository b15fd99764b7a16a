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

static TORCH_GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` with libtorch's global generator seeded to `seed`, holding a
/// lock so that no other deepscope code draws from it in between. This is
/// how bulk random tensors (initial weights, dropout masks) stay
/// repeatable per model while being drawn at libtorch's speed. (Code outside
/// deepscope that draws from libtorch in another thread at the same moment
/// is not covered; notebook cells run one at a time.)
pub fn with_torch_seed<T>(seed: u64, f: impl FnOnce() -> T) -> T {
    let _guard = TORCH_GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed((seed >> 1) as i64);
    f()
}

/// A seed derived from two numbers (splitmix64 of `seed + stream * golden`),
/// e.g. a run's seed and the epoch: each pair gives its own, well-spread
/// seed, and the same pair always the same one.
pub fn mix(seed: u64, stream: u64) -> u64 {
    let mut z = seed.wrapping_add(stream.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) >> 1
}
