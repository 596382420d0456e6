"""gitjax.experiments."""
