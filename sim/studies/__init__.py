"""Studies: run, compare, backtest, calibrate. They return result objects; no files, no flags."""
