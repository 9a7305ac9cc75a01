"""Recall: keyword terms, fusion and ranking, time in queries, links and supersession, the search itself."""
