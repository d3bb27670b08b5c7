"""Figure drawing: one module per figure, each reading only tidy CSV tables."""
