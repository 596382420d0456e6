"""Experiment `unrolled_ring`: the unrolled GAN on a ring of Gaussians (the
bilevel GAN objective's demonstration)."""
