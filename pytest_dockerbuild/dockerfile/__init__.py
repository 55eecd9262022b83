"""dockerfile."""
