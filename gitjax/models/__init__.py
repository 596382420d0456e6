"""gitjax.models."""
