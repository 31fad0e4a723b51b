"""Exporting stored versions as TensorFlow 2.21 would (``export_meta_graph`` semantics)."""
