"""The EchoNet-Dynamic folder layout every dataset of the platform uses: `FileList.csv` (one row per study),
`VolumeTracings.csv` (the LV chords at ED and ES) and `Videos/<FileName>.avi`. Named once here."""

from __future__ import annotations

from pathlib import Path

FILE_LIST = "FileList.csv"
VOLUME_TRACINGS = "VolumeTracings.csv"
VIDEOS = "Videos"
VIDEO_SUFFIXES = (".avi", ".mp4", ".dcm")
# the nine columns of every EchoNet-Dynamic FileList.csv, then the platform's own (Interfaces: Datasets)
ECHONET_COLUMNS = (
    "FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames", "Split",
)  # fmt: skip
PLATFORM_COLUMNS = ("View", "PatientID", "Cohort", "Device", "StudyDate")


def file_list(dataset_dir: str | Path) -> Path:
    """The manifest of an EchoNet-layout folder."""
    return Path(dataset_dir) / FILE_LIST


def video_file(dataset_dir: str | Path, name: str) -> Path:
    """A manifest FileName's video: EchoNet names carry no extension (`Videos/<name>.avi`)."""
    suffixed = Path(name).suffix.lower() in VIDEO_SUFFIXES
    return Path(dataset_dir) / VIDEOS / (name if suffixed else f"{name}.avi")


def is_dataset(folder: str | Path) -> bool:
    """Whether a folder has the layout's two required parts (FileList.csv and Videos/)."""
    return file_list(folder).is_file() and (Path(folder) / VIDEOS).is_dir()
