"""gitjax.data."""
