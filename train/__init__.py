"""Train the WDBC logistic regression and export it as a SavedModel."""
