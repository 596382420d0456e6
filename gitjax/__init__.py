"""gitjax: Generative Invariance Transfer in JAX."""

__version__ = '0.1.0'
