"""gitjax.runtime."""
