"""Indexes the record store feeds: Chroma vectors, embeddings, and the worker that fills them."""
