"""Research experiments, apart from the pipeline: they reuse its pieces (config.params, the probe protocol,
the robustness and pediatric evaluation) and write under the run layout's models/experiments/ and
reports/experiments/, never into the pipeline's run.

- `experiments.seed_table`: the EchoJEPA paper's comparisons re-run at equal compute (`echojepa experiment
  seed-table`); its budgets and datasets (`budgets`), measurements (`protocol`), table (`report`) and plots
  (`plots`).
"""
