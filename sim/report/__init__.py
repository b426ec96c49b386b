"""The report layer: every figure, every table, and the writers that fill a run folder.

* :mod:`sim.report.figures`: figures of a run or an ensemble from the tidy table;
  :data:`~sim.report.figures.FIGURES` says which metrics each needs and
  :func:`~sim.report.figures.save_figures` draws those the data allows.
* :mod:`sim.report.study_figures`: comparison and hindcast figures from their tables.
* :mod:`sim.report.tables`: Markdown tables and manifest summaries.
* :mod:`sim.report.write`: ``write_run``, ``write_ensemble``, ``write_comparison``,
  ``write_backtest``: fill an open :class:`~sim.engine.runfolder.RunFolder`.
* :mod:`sim.report.redraw`: ``casim plot RUN_DIR``.
* :mod:`sim.report.style`: labels, colours and grids shared by the figures.

Nothing here runs the model, and nothing here knows a command-line flag.
"""
