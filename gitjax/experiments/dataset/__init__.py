"""Experiment `dataset`: builds one long-tailed, transformed data set and
writes its preview, class-size chart and summary."""
