//! A shuffled stream of prepared images, epoch after epoch: the real samples of online
//! SGDA on data.

use crate::prep::Prepared;
use crate::read::ImageSet;
use hdgan_micro_sim::RealSamples;
use hdgan_model::random::SimRng;
use rand_core::Rng;
use std::sync::Arc;

/// Serves the images of a set in model units ([`Prepared::transform_into`]), in a fresh
/// uniformly random order each epoch (Fisher-Yates with the stream's own generator, so the
/// order depends only on that generator's seed: a GAN and a baseline given equal
/// generators see the same images in the same order). Cheap to clone: the images are
/// shared.
#[derive(Clone, Debug)]
pub struct ImageStream {
    set: Arc<ImageSet>,
    prep: Arc<Prepared>,
    shuffle: SimRng,
    order: Vec<u32>,
    pos: usize,
    epochs: u64,
}

impl ImageStream {
    /// A stream over `set`, prepared by `prep` (same dimension), shuffled with `shuffle`.
    /// The first epoch is shuffled when the first sample is drawn.
    pub fn new(set: Arc<ImageSet>, prep: Arc<Prepared>, shuffle: SimRng) -> Self {
        assert_eq!(
            set.dim(),
            prep.n,
            "ImageStream: set and preparation differ in dimension"
        );
        let order = (0..set.count as u32).collect();
        Self {
            pos: set.count,
            set,
            prep,
            shuffle,
            order,
            epochs: 0,
        }
    }

    /// Completed or started epochs so far.
    pub fn epochs(&self) -> u64 {
        self.epochs
    }

    /// The index of the next image, reshuffling at the start of each epoch.
    pub fn next_index(&mut self) -> usize {
        if self.pos == self.order.len() {
            for i in (1..self.order.len()).rev() {
                // Multiply-shift: uniform on 0..=i up to a bias below 2^-40 for any
                // dataset size that fits in memory.
                let j = ((u128::from(self.shuffle.next_u64()) * (i as u128 + 1)) >> 64) as usize;
                self.order.swap(i, j);
            }
            self.pos = 0;
            self.epochs += 1;
        }
        let i = self.order[self.pos] as usize;
        self.pos += 1;
        i
    }

    /// The next image in model units, written into `y` (length n).
    pub fn next_sample(&mut self, y: &mut [f64]) {
        let i = self.next_index();
        self.prep.transform_into(self.set.image(i), y);
    }
}

impl RealSamples for ImageStream {
    /// The next image; the engine's generator is not used (the order is the stream's own).
    fn next_into(&mut self, _rng: &mut SimRng, y: &mut [f64]) {
        self.next_sample(y);
    }
}
