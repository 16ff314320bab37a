"""FileName and PatientID of an EchoNet-layout source: pseudonymised unless it is already de-identified.

A clinical export in EchoNet's layout carries whatever its FileName and PatientID columns hold (a name, an
MRN, a date). So by default both are replaced by the salted pseudonyms of ingest.deid.pseudonym, the function
DICOM ingest and serving use: FileName → `en_` + 16 hex (kind "echonet"), PatientID → `pt_` + 16 hex of
`id:<PatientID>` (the key DICOM ingest uses, so one patient gets one pseudonym across both kinds of source),
and a rejected file's path → its 16-hex digest. The same salt gives the same names on every ingest.

The names are kept verbatim when the caller says the source is already de-identified, or when every FileName
is in the public EchoNet releases' `0X` + 16 hex form: those are de-identified by their publisher, and their
published labels and splits are keyed on exactly those names. One clinical-looking name among them is enough
to pseudonymise them all. The decision is written to identifiers.json beside the manifest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ingest.deid import Pseudonymizer, load_salt

NAMES_FILE = "identifiers.json"
ECHONET_FORM = re.compile(r"0X[0-9A-F]{16}")  # a public EchoNet FileName (Dynamic and Pediatric), no `.avi`
PSEUDONYMISED = "FileNames pseudonymised"
KEPT_FLAG = "kept: already de-identified (flag)"
KEPT_FORM = "kept: every FileName is EchoNet's 0X… form"


@dataclass(frozen=True)
class Naming:
    """How one EchoNet-layout ingest names its clips, patients and rejects.

    Attributes:
        decision: PSEUDONYMISED, KEPT_FLAG or KEPT_FORM (printed by `echojepa ingest`).
        pseudo: the salted pseudonymizer, None when the names are kept.
    """

    decision: str
    pseudo: Pseudonymizer | None = None

    def file_name(self, name: str) -> str:
        """The manifest FileName of a source FileName (without `.avi`)."""
        return self.pseudo.echonet_name(name) if self.pseudo and name else name

    def patient(self, patient_id: str) -> str:
        """The manifest PatientID of a source PatientID ("" stays "": fill_defaults then uses the FileName,
        which is already the pseudonym)."""
        return self.pseudo.patient(f"id:{patient_id}") if self.pseudo and patient_id else patient_id

    def source(self, rel_path: str) -> str:
        """ingest_rejects.csv's Source for a file of the source folder (its digest when pseudonymising)."""
        return self.pseudo.source(rel_path) if self.pseudo else rel_path

    def record(self) -> bytes:
        """identifiers.json: what happened to the source's identifiers, and by which function."""
        record: dict[str, object] = {"file_names": self.decision}
        if self.pseudo:
            record["pseudonyms"] = {
                "function": "ingest.deid.pseudonym",
                "FileName": "echonet (en_ + 16 hex of the source FileName)",
                "PatientID": "patient (pt_ + 16 hex of id:<PatientID>; none: the FileName pseudonym)",
                "ingest_rejects.csv Source": "path (16 hex of the source-relative path)",
            }
        return (json.dumps(record, indent=1, ensure_ascii=False) + "\n").encode()


def choose_naming(file_names: Iterable[str], *, already_deidentified: bool, salt_file: Path) -> Naming:
    """The naming of a source whose FileList(s) list `file_names` (`.avi` already stripped).

    The salt is only loaded (and, when missing, created) when the names are pseudonymised: ingesting a
    public EchoNet release needs no secret.

    Raises:
        SaltError: pseudonymising with a salt shorter than ingest.deid.MIN_SALT_BYTES.
    """
    if already_deidentified:
        return Naming(KEPT_FLAG)
    if all(ECHONET_FORM.fullmatch(name) for name in file_names):
        return Naming(KEPT_FORM)
    return Naming(PSEUDONYMISED, Pseudonymizer(load_salt(salt_file)))
