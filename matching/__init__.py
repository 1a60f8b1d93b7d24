"""Matching: Splink scoring, identity rules and constraint-aware clustering."""
