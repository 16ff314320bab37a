"""The collapse monitor: RankMe's numbers on matrices whose rank is known, the per-position centring of
tokens, held-out clips of the manifest, an encoder that ignores its input, and the figures a pretraining
run logs (metrics.json, effective_rank.csv) at every checkpoint."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from model.collapse import (
    HeldOutClips,
    TokenStatistics,
    effective_rank,
    effective_ranks,
    held_out_clips,
    rankme,
    rankme_of_gram,
    rankme_of_singular_values,
)
from model.data import build_clip_cache
from model.jepa import build_encoder
from model.train import pretrain


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_a_full_rank_isotropic_matrix_scores_its_width() -> None:
    assert rankme(torch.eye(16)) == pytest.approx(16, rel=1e-5)  # 16 equal singular values: exp(log 16)
    assert rankme(5.0 * torch.eye(16)) == pytest.approx(16, rel=1e-5)  # scale does not matter
    gaussian = torch.randn(4096, 16, generator=_generator(), dtype=torch.float64)
    assert 15.5 < rankme(gaussian) <= 16  # sampling spreads the singular values a little


def test_a_rank_one_matrix_scores_one_and_k_equal_directions_score_k() -> None:
    u, v = torch.randn(200, 1, generator=_generator(1)), torch.randn(1, 32, generator=_generator(2))
    assert rankme(u @ v) == pytest.approx(1.0, abs=1e-3)
    assert rankme_of_singular_values(torch.tensor([3.0, 3.0, 3.0, 0.0, 0.0])) == pytest.approx(3.0, rel=1e-5)
    # unequal directions count less than one each: p = (0.9, 0.1) -> exp(H) = 1.38
    assert rankme_of_singular_values(torch.tensor([9.0, 1.0])) == pytest.approx(1.384, abs=1e-3)
    assert rankme_of_singular_values(torch.zeros(4)) == 0.0  # nothing to rank


def test_the_gram_route_equals_the_singular_values_route() -> None:
    x = torch.randn(300, 24, generator=_generator(3), dtype=torch.float64) * torch.linspace(0.1, 3, 24)
    assert rankme_of_gram(x.T @ x) == pytest.approx(rankme(x), rel=1e-9)


def test_tokens_that_differ_only_by_position_score_one_once_centred() -> None:
    clips, positions, width = 40, 30, 48
    g = _generator(4)
    pos = torch.randn(positions, width, generator=g)  # a different vector at every position
    direction = torch.randn(width, generator=g)
    shift = torch.randn(clips, 1, 1, generator=g)  # clips differ along one direction only
    tokens = pos[None] + shift * direction
    statistics = TokenStatistics()
    statistics.update(tokens)
    figures = statistics.result()
    assert figures.tokens == pytest.approx(1.0, abs=1e-3)
    assert rankme(tokens.reshape(-1, width)) > 10  # uncentred, the positions alone would count as rank
    # the raw pooled rows are the mean position plus the shift: two directions at most
    assert 1.0 <= figures.pooled <= 2.0
    assert (figures.clips, figures.width) == (clips, width)


def test_an_output_that_ignores_the_clip_scores_zero_not_its_rounding_noise() -> None:
    pos = torch.randn(30, 48, generator=_generator(5))
    statistics = TokenStatistics()
    statistics.update(pos[None].repeat(20, 1, 1) + 1e-9 * torch.randn(20, 30, 48, generator=_generator(6)))
    figures = statistics.result()
    assert figures.tokens == 0.0 and figures.pooled == pytest.approx(1.0, abs=1e-3)


def test_streaming_batches_equal_one_pass_over_all_tokens() -> None:
    tokens = torch.randn(24, 10, 16, generator=_generator(7), dtype=torch.float64)
    tokens = tokens * torch.linspace(0.2, 2, 16) + torch.randn(10, 16, generator=_generator(8)).double()
    whole, parts = TokenStatistics(), TokenStatistics()
    whole.update(tokens)
    for chunk in tokens.split(5):  # 5 + 5 + 5 + 5 + 4 clips
        parts.update(chunk)
    centred = (tokens - tokens.mean(0)).reshape(-1, 16)
    assert parts.result() == whole.result()
    assert parts.result().tokens == pytest.approx(rankme(centred), abs=1e-4)
    assert parts.result().pooled == pytest.approx(rankme(tokens.mean(1)), abs=1e-4)


def test_one_clip_cannot_be_centred() -> None:
    statistics = TokenStatistics()
    statistics.update(torch.randn(1, 4, 8))
    with pytest.raises(ValueError, match="at least 2"):
        statistics.result()
    empty = HeldOutClips((), (), 64, "VAL+TEST")
    assert effective_ranks({"encoder": torch.nn.Identity()}, empty) == {
        "clips": 0, "split": "VAL+TEST", "reason": "0 held-out (VAL+TEST) clip(s); RankMe needs at least 2",
    }  # fmt: skip


def test_held_out_clips_are_the_val_and_test_studies_and_a_blind_encoder_collapses(fast_config) -> None:
    config = fast_config()
    manifest = Path(config.data.root) / config.data.dataset / "FileList.csv"
    build_clip_cache(manifest.parent, Path(config.data.cache) / config.data.dataset)
    table = pd.read_csv(manifest)
    clips = held_out_clips(config.data)
    assert list(clips.names) == table[table.Split.isin(["VAL", "TEST"])].FileName.tolist()
    assert len(held_out_clips(config.data, max_clips=3)) == 3 and clips.split == "VAL+TEST"
    assert next(clips.batches()).shape == (len(clips), 1, 8, 64, 64)  # frames 8, resolution 64
    torch.manual_seed(0)
    encoder = build_encoder(config).eval()
    healthy = effective_rank(encoder, clips)
    assert healthy.clips == len(clips) and healthy.width == encoder.width == 96
    assert 4 < healthy.tokens <= 96 and 1 <= healthy.pooled <= len(clips)
    with torch.no_grad():  # an encoder blind to its input: only the positions pass through
        encoder.patch_embed.weight.zero_()
    blind = effective_rank(encoder, clips)
    assert blind.tokens == 0.0 and blind.pooled == pytest.approx(1.0, abs=1e-2)


def test_pretraining_logs_the_figures_of_both_encoders_at_every_checkpoint(
    fast_config, tmp_path: Path
) -> None:
    config = fast_config()  # 12 steps, a checkpoint every 4
    metrics = pretrain(config, tmp_path / "run", progress=False)
    ranks = metrics["effective_rank"]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["effective_rank"] == ranks
    assert {"encoder", "target_encoder", "random_init"} <= set(ranks) and ranks["split"] == "VAL+TEST"
    assert ranks["clips"] == 8 and ranks["width"] == 96  # the mini set's 3 VAL + 5 TEST studies
    for name in ("encoder", "target_encoder", "random_init"):
        assert 1 <= ranks[name]["pooled"] <= 8 and 0 < ranks[name]["tokens"] <= 96, name
    log = pd.read_csv(tmp_path / "run" / "effective_rank.csv")
    assert log[["step", "encoder"]].values.tolist() == [
        [s, e] for s in (4, 8, 12) for e in ("encoder", "target_encoder")
    ]
    assert [(r["step"], r["encoder"]) for r in ranks["by_step"]] == list(
        map(tuple, log[["step", "encoder"]].values)
    )
    last = log[log.step == 12].set_index("encoder")
    for name in (
        "encoder",
        "target_encoder",
    ):  # the final figures are the saved files' = the last checkpoint's
        assert last.loc[name, "tokens"] == pytest.approx(ranks[name]["tokens"], abs=1e-3)
    assert math.isfinite(ranks["seconds"]) and ranks["seconds"] >= 0
