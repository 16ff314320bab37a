"""Production monitoring: the production log's window against the production model's reference.

    config       params.yaml `monitoring:` (thresholds, workspace, reports)
    data         the reference (packaged with the production model) and the production log's window
    drift        Evidently report: image-quality, prediction (EF, view mix) and embedding (MMD) drift
    degradation  the shared cause classifier aggregated over a window: degraded or not, and why
    labels       delayed EF labels (Feast's study_labels) joined to predictions: MAE per day/device/cohort
    dashboard    the Evidently workspace project and its panels (`evidently ui --workspace ...`)
    report       a run's HTML/JSON files and markdown summary
    run          one monitor run, end to end -> MonitoringResult (flows/monitor.py emits the event)
    synthetic    production logs in the serving format from simulated clips (tests, benchmark)

No prefect here; Evidently (~4 s to import) and Feast are imported inside the functions that use them.
"""
