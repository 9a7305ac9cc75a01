"""The conversation of each session: window policy, token counts, summaries and folding."""
