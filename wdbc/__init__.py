"""Contract shared by training and scoring: feature names, export keys, columns."""
