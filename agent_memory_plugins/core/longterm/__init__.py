"""Long-term memories: typed kinds, consolidation (rules and a pluggable model), salience."""
