"""Both examples, end to end, through the CLI on the local target: the directory blob store
and real Azurite; the ffmpeg example converts real MP4s with real ffmpeg."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import batchflow

STORAGES = ["local", "azurite"]


def _env(storage: str, request: pytest.FixtureRequest) -> dict[str, str]:
    if storage == "azurite":
        return {"AZURE_STORAGE_CONNECTION_STRING": request.getfixturevalue("azurite")}
    return {}


@pytest.mark.parametrize("storage", STORAGES)
def test_quickstart(examples: Path, storage: str, request: pytest.FixtureRequest) -> None:
    res = batchflow("run", "quickstart.yaml", cwd=examples, **_env(storage, request))
    assert res.code == 0, res.stderr
    first = res.stderr.splitlines()[0]
    assert "local target" in first and "AZURE_BATCH" in first and ".batchflow" in first
    if storage == "azurite":
        assert "127.0.0.1" in first
    for i in range(3):
        data = (examples / "quickstart" / f"taskdata{i}.txt").read_text()
        block = f"Task: task{i}\nNode: "
        assert block in res.stdout
        assert data.strip() in res.stdout
    assert res.stdout.count("Standard out:") == 3


def _probe(path: Path) -> tuple[bool, float]:
    """(has an audio stream, duration in seconds) as ffprobe sees them."""
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_type",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(probe.stdout)
    audio = any(s["codec_type"] == "audio" for s in info["streams"])
    return audio, float(info["format"]["duration"])


@pytest.mark.skipif(
    not shutil.which("ffmpeg") or not shutil.which("ffprobe"), reason="needs ffmpeg and ffprobe"
)
@pytest.mark.parametrize("storage", STORAGES)
def test_ffmpeg(examples: Path, storage: str, request: pytest.FixtureRequest) -> None:
    res = batchflow("run", "ffmpeg.yaml", "--json", cwd=examples, **_env(storage, request))
    assert res.code == 0, res.stderr
    summary = res.json()
    assert summary["succeeded"] and summary["tasks"]["succeeded"] == 3
    for mp4 in sorted((examples / "media").glob("*.mp4")):
        mp3 = examples / "out" / f"{mp4.stem}.mp3"
        assert mp3.is_file(), summary
        audio, seconds = _probe(mp3)
        assert audio
        assert abs(seconds - _probe(mp4)[1]) <= 0.5


def test_quickstart_on_the_azure_target_path(
    examples: Path, emulator: object, azurite: str
) -> None:
    """``--target azure`` end to end, the account read from the environment like the az CLI,
    with an emulator standing in for the Batch account and Azurite for Storage."""
    env = {
        "AZURE_BATCH_ENDPOINT": emulator.url,  # type: ignore[attr-defined]
        "AZURE_BATCH_ACCOUNT": emulator.account,  # type: ignore[attr-defined]
        "AZURE_BATCH_ACCESS_KEY": emulator.key,  # type: ignore[attr-defined]
        "AZURE_STORAGE_CONNECTION_STRING": azurite,
    }
    res = batchflow("run", "quickstart.yaml", cwd=examples, **env)
    assert res.code == 0, res.stderr
    assert res.stderr.splitlines()[0].startswith("Running on Azure Batch")
    assert res.stdout.count("Standard out:") == 3
    for secret in (emulator.key, "AccountKey", "sig="):  # type: ignore[attr-defined]
        assert secret not in res.stderr + res.stdout
    # No local emulator state: at most the record of what succeeded (engine.cache).
    # no local emulator state: only the run's record and the cache's local copy
    assert {p.name for p in (examples / ".batchflow").glob("*")} <= {"cache", "runs"}


@pytest.mark.parametrize("storage", STORAGES)
def test_steps(examples: Path, storage: str, request: pytest.FixtureRequest) -> None:
    res = batchflow("run", "steps.yaml", cwd=examples, **_env(storage, request))
    assert res.code == 0, res.stderr
    words = sum(len(p.read_text().split()) for p in (examples / "quickstart").glob("*.txt"))
    assert (examples / "out" / "total" / "total.txt").read_text().strip() == str(words)
    assert [p.name for p in (examples / "out").rglob("*") if p.is_file()] == ["total.txt"]


def test_steps_on_the_azure_target_path(examples: Path, emulator: object, azurite: str) -> None:
    """A workflow's steps read each other's outputs through a read SAS on the output
    container in Azurite, as they would on Azure."""
    env = {
        "AZURE_BATCH_ENDPOINT": emulator.url,  # type: ignore[attr-defined]
        "AZURE_BATCH_ACCOUNT": emulator.account,  # type: ignore[attr-defined]
        "AZURE_BATCH_ACCESS_KEY": emulator.key,  # type: ignore[attr-defined]
        "AZURE_STORAGE_CONNECTION_STRING": azurite,
    }
    res = batchflow("run", "steps.yaml", cwd=examples, **env)
    assert res.code == 0, res.stderr
    words = sum(len(p.read_text().split()) for p in (examples / "quickstart").glob("*.txt"))
    assert (examples / "out" / "total" / "total.txt").read_text().strip() == str(words)
    for secret in (emulator.key, "AccountKey", "sig="):  # type: ignore[attr-defined]
        assert secret not in res.stderr + res.stdout


def _stream(path: Path) -> dict[str, object]:
    """The first stream of a media file and its duration, as ffprobe sees them."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name,width,"
         "height", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    info = json.loads(probe.stdout)
    return {**info["streams"][0], "duration": info["format"].get("duration")}


@pytest.mark.skipif(
    not shutil.which("ffmpeg") or not shutil.which("ffprobe"), reason="needs ffmpeg and ffprobe"
)
def test_pipeline(examples: Path) -> None:
    """MP3s and thumbnails per video, then a contact sheet and one album of all the audio;
    a second run of the unchanged pipeline runs nothing."""
    res = batchflow("run", "pipeline.yaml", cwd=examples)
    assert res.code == 0, res.stderr
    videos = sorted((examples / "media").glob("*.mp4"))
    album = _stream(examples / "out/album/album.mp3")
    assert album["codec_name"] == "mp3"
    total = sum(_probe(v)[1] for v in videos)
    assert abs(float(str(album["duration"])) - total) <= 0.5 * len(videos), (album, total)
    playlist = (examples / "out/album/playlist.m3u").read_text().split()
    assert playlist == [f"{v.stem}.mp3" for v in videos]
    sheet = _stream(examples / "out/sheet/sheet.png")  # one 160x120 tile per video, in a row
    assert (sheet["codec_name"], sheet["width"], sheet["height"]) == ("png", 160 * 3, 120)
    assert sorted(p.parent.name for p in (examples / "out").rglob("*.*")) == [
        "album",
        "album",
        "sheet",
    ]
    again = batchflow("run", "pipeline.yaml", cwd=examples)
    assert again.code == 0, again.stderr
    assert "Nothing to do: 8 tasks up to date" in again.stderr
