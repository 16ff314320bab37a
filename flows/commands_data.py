"""Data commands: simulate, ingest, validate, prepare the clip cache, feed the feature store, perturb
videos, print their quality."""

from __future__ import annotations

from pathlib import Path

from cyclopts import App

from config import PARAMS_FILE
from flows.app import Cohort, app, in_dvc_repo


@app.command
def simulate(
    out: Path,
    *,
    n_videos: int | None = None,
    seed: int | None = None,
    cohort: Cohort | None = None,
    workers: int = 0,
    params: Path = PARAMS_FILE,
) -> None:
    """Write a synthetic echocardiography dataset in EchoNet-Dynamic layout.

    FileList.csv, VolumeTracings.csv and Videos/*.avi (112×112, 50 fps), plus SimulationFactors.csv
    (hidden factors: heart rate, ED/ES frames) and simulation.json (the resolved settings).

    Parameters
    ----------
    out
        Dataset folder to write.
    n_videos
        Number of videos (studies) to render (default: simulate.datasets.<name of OUT>.n_videos, else the
        entry of data.dataset).
    seed
        Random seed; the same seed gives the same dataset (default: that entry's seed).
    cohort
        adult, pediatric, or mixed (30 % pediatric patients) (default: that entry's cohort).
    workers
        Rendering processes; 0 uses every core.
    params
        Parameter file (section simulate: the defaults of a dataset it names).
    """
    from config.params import load_params
    from flows.progress import progress_bar
    from ultrasound.dataset import simulate_dataset

    config = load_params(params)
    sets = config.simulate.datasets  # this folder's entry, else the training set's (data.dataset)
    defaults = sets.get(out.name) or sets.get(config.data.dataset)
    if defaults is None and None in (n_videos, seed, cohort):
        raise ValueError(f"{out.name}: not in simulate.datasets of {params}: give --n-videos --seed --cohort")
    n_videos = defaults.n_videos if n_videos is None else n_videos
    seed = defaults.seed if seed is None else seed
    cohort = cohort or defaults.cohort

    with progress_bar(f"simulating {n_videos} videos", n_videos) as advance:
        filelist = simulate_dataset(out, n_videos, seed, cohort, workers or None, on_progress=advance)
    print(f"wrote {n_videos} videos to {filelist.parent} ({filelist.name}, VolumeTracings.csv, Videos/)")


@app.command
def ingest(
    src: str,
    *,
    name: str,
    root: Path | None = None,
    endpoint_url: str | None = None,
    already_deidentified: bool = False,
    dvc: bool = True,
    params: Path = PARAMS_FILE,
) -> None:
    """Bring a dataset into data/raw/NAME in the platform's EchoNet layout and version it with DVC.

    SRC is an EchoNet-Dynamic or EchoNet-Pediatric folder, an s3://bucket/prefix (boto3; credentials
    from the environment only), or a folder of ultrasound DICOM files (de-identified on the way in:
    identifiers replaced by salted pseudonyms, pixels outside the sector blanked). An EchoNet-layout
    folder's FileName and PatientID become the same salted pseudonyms unless every FileName is a public
    EchoNet 0X… name or --already-deidentified is given; the output line says which.

    Parameters
    ----------
    src
        Source folder or s3:// prefix.
    name
        Dataset name: the output is data/raw/NAME and params.yaml's data.dataset selects it.
    root
        Parent folder of datasets (default: data.root).
    endpoint_url
        S3-compatible endpoint (else AWS_ENDPOINT_URL / ECHOJEPA_S3_ENDPOINT / AWS).
    already_deidentified
        Keep an EchoNet-layout source's FileName and PatientID verbatim: it is de-identified already
        (DICOM is de-identified either way).
    dvc
        Track the output with `dvc add` when inside a DVC repository.
    params
        Parameter file (section ingest: de-identification salt file, S3 endpoint, pediatric folds).
    """
    from config.params import load_params
    from flows.progress import progress_bar
    from ingest import ingest_source

    config = load_params(params)
    settings = config.ingest.ingest_kwargs()
    if endpoint_url:
        settings["endpoint_url"] = endpoint_url
    out = (root or Path(config.data.root)) / name
    with progress_bar(f"ingest {name}", None) as advance:
        result = ingest_source(
            src, out, on_progress=advance, already_deidentified=already_deidentified, **settings
        )
    rejected = f", {result.rejected} rejected (see ingest_rejects.csv)" if result.rejected else ""
    state = "changed" if result.changed else "unchanged"
    print(f"ingested {result.rows} studies ({result.kind}) into {out}{rejected}; {state}; {result.names}")
    if dvc and in_dvc_repo(out):
        from flows.versioning import add

        add(out)
        print(f"tracked with DVC: {out}.dvc (commit it; `echojepa data push` uploads the data)")


@app.command
def validate(
    data: Path,
    *,
    out: Path | None = None,
    reports: Path | None = None,
    params: Path = PARAMS_FILE,
) -> None:
    """Check a dataset against the data contracts (Great Expectations); quarantine failing rows.

    Writes the accepted manifest, quarantine.csv (each row's failed expectations) and facts.csv
    (measured per-video facts) under --out, and summary.json + HTML data docs under --reports. Exits
    non-zero when the quarantined share exceeds validate.max_quarantine_share.

    Parameters
    ----------
    data
        A dataset folder (FileList.csv + Videos/).
    out
        Output folder; default <data.validated>/<name of DATA> (data/validated/NAME).
    reports
        Report folder; default reports/validation/<name of DATA>.
    params
        Parameter file (sections validate, data).
    """
    from config.layout import DataLayout
    from config.params import load_params
    from data_contracts.validate import validate_dataset
    from flows.progress import progress_bar

    loaded = load_params(params)
    config = loaded.validation
    layout = DataLayout.from_data(loaded.data.model_copy(update={"dataset": data.name}))
    out = out or layout.validated_dir
    reports = reports or layout.validation_reports
    with progress_bar(f"validate {data.name}", None) as advance:
        outcome = validate_dataset(data, out, reports, config, on_progress=advance)
    print(
        f"{data.name}: {outcome.rows_in} rows = {outcome.accepted} accepted + {outcome.quarantined} "
        f"quarantined ({outcome.quarantined_share:.1%}; limit {config.max_quarantine_share:.0%}); "
        f"accepted manifest {out / 'FileList.csv'}"
    )
    for failure in outcome.failures:
        print(f"  {failure}")
    if not outcome.passed:
        if outcome.quarantined_share > config.max_quarantine_share:
            raise ValueError(
                f"{data.name}: validation failed: quarantined share {outcome.quarantined_share:.1%} exceeds "
                f"{config.max_quarantine_share:.0%} (see {out / 'quarantine.csv'})"
            )
        reason = "; ".join(outcome.failures) or "a batch-level expectation failed"
        raise ValueError(f"{data.name}: validation failed: {reason}")


@app.command
def prepare(*, params: Path = PARAMS_FILE, set: list[str] | None = None) -> None:
    """Decode every accepted video of `data.dataset` once into the uint8 clip cache (data/cache/NAME).

    Parameters
    ----------
    params
        Parameter file (section data).
    set
        Overrides as section.key=value.
    """
    import pandas as pd

    from config.params import load_params
    from flows.progress import progress_bar
    from model.data import build_clip_cache

    layout = load_params(params, set or []).layout().data
    manifest, cache = layout.manifest, layout.cache_dir
    if not manifest.is_file():
        raise ValueError(f"{manifest}: no manifest (simulate or ingest, then validate, first)")
    with progress_bar(f"prepare {layout.dataset}", len(pd.read_csv(manifest))) as advance:
        table = build_clip_cache(layout.dataset_dir, cache, advance, manifest)
    print(f"clip cache {cache}: {len(table)} videos from {manifest}")


@app.command
def features(
    validated: Path,
    *,
    embeddings: list[Path] | None = None,
    params: Path = PARAMS_FILE,
) -> None:
    """Feed the Feast feature store: labels and quality facts of a validated dataset, pooled embeddings.

    Labels are appended with a timestamp only when they changed (a corrected EF becomes a new row, so
    training frames stay point-in-time correct); then the views are applied and materialised online.

    Parameters
    ----------
    validated
        A validated dataset folder (FileList.csv, facts.csv) written by `echojepa validate`.
    embeddings
        data/embeddings/VERSION folders written by `echojepa embed` (one feature view per version).
    params
        Parameter file (section features).
    """
    from config.params import load_params
    from features.store import add_embeddings, apply, materialize, open_store, sync_sources
    from ultrasound.echonet import file_list

    config = load_params(params).features
    manifest, facts = file_list(validated), validated / "facts.csv"
    if not manifest.is_file():
        raise ValueError(f"{manifest}: no validated manifest (run echojepa validate first)")
    root = config.root_path()
    added = sync_sources(root, manifest, facts if facts.is_file() else None)
    versions = []
    for folder in embeddings or []:
        if not (folder / "pooled.npy").is_file():
            raise ValueError(f"{folder}: no pooled.npy (run echojepa embed first)")
        add_embeddings(root, folder, folder.name)
        versions.append(folder.name)
    store = open_store(root, config.project)
    apply(store, config, versions)
    materialize(store)
    shown = ", ".join(f"{k} +{v}" for k, v in added.items())
    print(f"feature store {root}: {shown}; embedding views: {', '.join(versions) or 'none'}")


data_app = App(name="data", help="Move DVC-versioned data and models to and from a remote.")
app.command(data_app)


@data_app.command
def push(*, remote: str | None = None) -> None:
    """Upload every DVC-tracked output (datasets, models) to a remote.

    Parameters
    ----------
    remote
        A remote of .dvc/config (default: the configured default, a local folder).
    """
    from flows.versioning import push as dvc_push

    print(dvc_push(remote).strip() or "everything is up to date")


@data_app.command
def pull(*, remote: str | None = None) -> None:
    """Download DVC-tracked outputs from a remote into the workspace.

    Parameters
    ----------
    remote
        A remote of .dvc/config (default: the configured default).
    """
    from flows.versioning import pull as dvc_pull

    print(dvc_pull(remote).strip() or "everything is up to date")
