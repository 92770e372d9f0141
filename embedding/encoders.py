"""Encoder backends behind one interface: pretrained MuQ, a small random MuQ, and MUSEED checkpoints.

Every encoder maps 24 kHz mono clips to one vector per clip (mean over time of one MuQ hidden layer) and one
L2-normalised vector per track (mean of its clip vectors). `describe()` records everything needed to
reproduce the vectors, and `config_hash` changes whenever the weights, layer, pooling or head change, so a
vector set written by another encoder is detected as stale.

Layer choice. MuQ returns 13 hidden states for the published 12-layer model (index 0 = conformer input,
12 = last layer). Probing studies of self-supervised music encoders (MERT, MuQ and the MARBLE benchmark) find
genre, mood and tagging information peaking in the upper-middle layers, while the last layers specialise in
the pre-training target (predicting Mel-RVQ tokens of masked frames). MUSEED therefore uses layer 10 of a
12-layer MuQ; a model of any other depth (the small random one, which has no pre-training target to
specialise in) uses its last layer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from museed.settings import Settings, get_settings

if TYPE_CHECKING:
    from muq import MuQ

log = logging.getLogger(__name__)

MUQ_SAMPLE_RATE = 24_000  # MuQ's mel front end is built for 24 kHz
PRETRAINED_LAYER = 10  # see the module docstring
PRETRAINED_DEPTH = 12
POOLING = "mean"
MIN_SEGMENT_SAMPLES = 2048  # MuQ's STFT (n_fft 2048, reflect padding) needs at least this much audio

SMALL_RANDOM_KIND = "muq-small-random"
CHECKPOINT_FILE = "museed_encoder.json"
CHECKPOINT_FORMAT = "museed_encoder"
CHECKPOINT_VERSION = 1
BACKBONE_WEIGHTS_FILE = "muq.safetensors"
HEAD_WEIGHTS_FILE = "head.safetensors"

# log-mel (dB) statistics on the scale of the published MuQ-large `stat`, so inputs are about zero-mean, unit-var
SMALL_MUQ_STAT = {"melspec_2048_cnt": 0, "melspec_2048_mean": 6.768444971712967, "melspec_2048_std": 18.417922652295623}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
# weights a pretrained directory must provide; anything else missing (quantizer buffers) is rebuilt by MuQ
_REQUIRED_PREFIXES = ("model.conv.", "model.conformer.layers.", "model.conformer.layer_norm.")


class EncoderError(ValueError):
    """An encoder spec, directory or checkpoint that cannot be loaded, or input an encoder cannot embed."""


class EncoderNotCachedError(EncoderError):
    """The requested hub model is not in the local Hugging Face cache (the only case "auto" falls back on)."""


class RandomEncoderWarning(UserWarning):
    """Issued when MUSEED falls back to a randomly initialised MuQ: its vectors are not MuQ embeddings."""


@runtime_checkable
class Encoder(Protocol):
    """What the embedding job, the upload path and training need from an audio encoder."""

    encoder_id: str  # stable id recorded with every vector set
    sample_rate: int
    dim: int
    layer: int  # hidden state used
    pooling: str  # "mean"

    def describe(self) -> dict[str, Any]:
        """Everything needed to reproduce the vectors (kind, source, config, layer, versions, config_hash)."""
        ...

    def embed_segments(self, segments: np.ndarray) -> np.ndarray:
        """(n, samples) float32 clips -> (n, dim) float32 clip vectors, not normalised."""
        ...

    def embed_tracks(self, tracks: Sequence[np.ndarray]) -> np.ndarray:
        """List of (n_i, samples) clip arrays -> (len, dim) L2-normalised track vectors."""
        ...


class MuQEncoder:
    """An `Encoder` around a `muq.MuQ` module: mean over time of one hidden layer, optional projection head.

    The model is kept in eval mode for embedding (BatchNorm uses its running statistics) and runs under
    `torch.inference_mode()`: float32 on CPU, optionally float16/bfloat16 autocast on CUDA. Torch thread
    counts are left to the caller. On CPU the same input always gives bit-identical output.
    """

    pooling = POOLING

    def __init__(
        self,
        model: MuQ,
        *,
        source: str,
        layer: int | None = None,
        device: str | None = None,
        dtype: torch.dtype | None = None,
        batch_size: int = 8,
        kind: str = "muq",
        weights_fingerprint: str | None = None,
        head: nn.Module | None = None,
        head_spec: Mapping[str, Any] | None = None,
        label: str | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> None:
        if batch_size < 1:
            raise EncoderError("batch_size must be >= 1")
        if (head is None) != (head_spec is None):
            raise EncoderError("a projection head needs both the module and its spec")
        self.model = model
        self.kind = kind
        self.source = source
        self.batch_size = batch_size
        self.sample_rate = MUQ_SAMPLE_RATE
        self.muq_config = muq_config_dict(model)
        depth = int(self.muq_config["encoder_depth"])
        self.n_hidden_states = depth + 1
        self.layer = default_layer(depth) if layer is None else int(layer)
        if not 0 <= self.layer <= depth:
            raise EncoderError(f"layer {self.layer} does not exist: this MuQ has hidden states 0..{depth}")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = dtype or torch.float32
        if self.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise EncoderError(f"unsupported dtype {self.dtype}; use float32, float16 or bfloat16")
        if self.dtype != torch.float32 and self.device.type != "cuda":
            raise EncoderError("half-precision autocast is only used on CUDA; CPU embedding runs in float32")
        self.head = head
        self.head_spec = dict(head_spec) if head_spec is not None else None
        self.dim = int(self.head_spec["out_dim"]) if self.head_spec else int(self.muq_config["encoder_dim"])
        self.weights_fingerprint = weights_fingerprint or f"sha256:{state_dict_digest(model)}"
        self.provenance = dict(provenance or {})
        self.model.to(self.device).eval()
        if self.head is not None:
            self.head.to(self.device).eval()
        self.config_hash = _config_hash(
            kind=kind,
            muq_config=self.muq_config,
            layer=self.layer,
            pooling=self.pooling,
            head=self.head_spec,
            weights=self.weights_fingerprint,
        )
        label = label or source
        self.encoder_id = (
            f"muq:{source}:L{self.layer}-{self.pooling}"
            if kind == "muq"
            else f"{kind}:{label}:L{self.layer}-{self.pooling}:{self.config_hash[:8]}"
        )

    def __repr__(self) -> str:
        return f"MuQEncoder({self.encoder_id!r}, dim={self.dim}, device={self.device})"

    def describe(self) -> dict[str, Any]:
        """Everything needed to reproduce this encoder's vectors (JSON-serialisable)."""
        return {
            "encoder_id": self.encoder_id,
            "kind": self.kind,
            "source": self.source,
            "sample_rate": self.sample_rate,
            "dim": self.dim,
            "layer": self.layer,
            "n_hidden_states": self.n_hidden_states,
            "pooling": self.pooling,
            "normalise": "segment vectors averaged per track, then L2-normalised (embed_tracks only)",
            "head": self.head_spec,
            "muq_config": self.muq_config,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "batch_size": self.batch_size,
            "weights_fingerprint": self.weights_fingerprint,
            "config_hash": self.config_hash,
            "provenance": self.provenance,
            "versions": library_versions(),
        }

    def pooled(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, samples) waveforms -> (batch, dim) pooled vectors, differentiable (for training).

        Runs in whatever mode the modules are in; a fine-tuning loop should keep MuQ's BatchNorm layers in
        eval mode on small triplet batches.
        """
        out = self.model(waveforms, output_hidden_states=True)
        vectors = out.hidden_states[self.layer].mean(dim=1)
        return self.head(vectors) if self.head is not None else vectors

    def embed_segments(self, segments: np.ndarray) -> np.ndarray:
        """(n, samples) float32 clips at 24 kHz -> (n, dim) float32 vectors, in chunks of `batch_size`."""
        batch = _check_segments(segments)
        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = []
        with self._eval_mode(), torch.inference_mode(), self._autocast():
            for start in range(0, len(batch), self.batch_size):
                chunk = torch.from_numpy(batch[start : start + self.batch_size]).to(self.device)
                parts.append(self.pooled(chunk).float().cpu().numpy())
        return np.concatenate(parts).astype(np.float32, copy=False)

    def embed_tracks(self, tracks: Sequence[np.ndarray]) -> np.ndarray:
        """Clip arrays per track -> (len(tracks), dim) L2-normalised track vectors.

        All clips of all tracks go through the model together (in `batch_size` chunks); each track's clip
        vectors are then averaged and the mean is L2-normalised.
        """
        if len(tracks) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        arrays = [_check_segments(t) for t in tracks]
        for i, arr in enumerate(arrays):
            if len(arr) == 0:
                raise EncoderError(f"track {i} has no segments")
        out = np.empty((len(arrays), self.dim), dtype=np.float32)
        # clips of equal length are batched together; load_segments always yields one length
        by_length: dict[int, list[int]] = {}
        for i, arr in enumerate(arrays):
            by_length.setdefault(arr.shape[1], []).append(i)
        for indices in by_length.values():
            vectors = self.embed_segments(np.concatenate([arrays[i] for i in indices]))
            offset = 0
            for i in indices:
                n = len(arrays[i])
                out[i] = vectors[offset : offset + n].mean(axis=0)
                offset += n
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)

    @contextlib.contextmanager
    def _eval_mode(self) -> Iterator[None]:
        # a training loop may hand over a model in train mode; embedding always uses eval behaviour
        modules = [m for m in (self.model, self.head) if m is not None]
        was_training = [m.training for m in modules]
        for m in modules:
            m.eval()
        try:
            yield
        finally:
            for m, mode in zip(modules, was_training, strict=True):
                m.train(mode)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.device.type == "cuda" and self.dtype != torch.float32:
            return torch.autocast(device_type="cuda", dtype=self.dtype)
        return contextlib.nullcontext()


def _check_segments(segments: np.ndarray) -> np.ndarray:
    arr = np.asarray(segments)
    if arr.ndim != 2:
        raise EncoderError(f"segments must be a 2-D (n_segments, samples) array, got shape {arr.shape}")
    if len(arr) and arr.shape[1] < MIN_SEGMENT_SAMPLES:
        raise EncoderError(f"segments of {arr.shape[1]} samples are too short (>= {MIN_SEGMENT_SAMPLES} needed)")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise EncoderError("segments contain NaN or infinite values")
    return arr


def default_layer(encoder_depth: int) -> int:
    """Layer 10 for the published 12-layer MuQ, else the last layer (see the module docstring)."""
    return PRETRAINED_LAYER if encoder_depth == PRETRAINED_DEPTH else encoder_depth


def muq_config_dict(model: MuQ) -> dict[str, Any]:
    """The MuQConfig of `model` as a plain, JSON-serialisable dict."""
    config = model.config
    as_dict = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)  # type: ignore[arg-type]
    return json.loads(json.dumps(as_dict, default=str))


def state_dict_digest(module: nn.Module) -> str:
    """sha256 over the names, shapes and bytes of all parameters and buffers (cheap for small models)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries that determine the vectors."""
    import transformers

    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    for dist in ("muq", "museed"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def _config_hash(**fields: Any) -> str:
    # the weights fingerprint (not the path) identifies the weights, so a moved checkpoint keeps its hash
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------------
# the small random MuQ


def small_muq_config(
    encoder_dim: int = 128,
    depth: int = 2,
    conv_dim: int = 16,
    *,
    num_heads: int = 4,
    ffn_multiplier: int = 4,
    conv_kernel_size: int = 31,
    codebook_size: int = 1024,
) -> dict[str, Any]:
    """A full MuQConfig (as a dict) for a small conformer MuQ with the real architecture.

    Same front end as MuQ-large (24 kHz, 128-band log-mel, hop 240, 2-D conv subsampling to 25 frames/s)
    and the same Wav2Vec2-Conformer blocks (relative position attention, depthwise conv kernel 31), only
    narrower and shallower. The defaults embed a 3 x 10 s track in tens of milliseconds on 2 CPU cores
    (`scripts/bench_encoder.py`).
    """
    from muq import MuQConfig
    from transformers import Wav2Vec2ConformerConfig

    if encoder_dim % num_heads or encoder_dim % 16:
        raise EncoderError("encoder_dim must be divisible by num_heads and by 16 (conformer conv groups)")
    if depth < 1 or conv_dim < 1:
        raise EncoderError("depth and conv_dim must be >= 1")
    w2v2 = Wav2Vec2ConformerConfig(
        hidden_size=encoder_dim,
        num_hidden_layers=depth,
        num_attention_heads=num_heads,
        intermediate_size=ffn_multiplier * encoder_dim,
        conv_depthwise_kernel_size=conv_kernel_size,
        position_embeddings_type="relative",
        layerdrop=0.0,  # dropping one of two layers at random would make fine-tuning needlessly noisy
    ).to_dict()
    for key in ("id2label", "label2id", "transformers_version"):  # MuQ cannot take them; version is not config
        w2v2.pop(key, None)
    config = MuQConfig(
        encoder_dim=encoder_dim,
        encoder_depth=depth,
        conv_dim=conv_dim,
        codebook_size=codebook_size,
        stat=dict(SMALL_MUQ_STAT),
        w2v2_config=w2v2,
    )
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def build_small_muq(seed: int = 0, **config_overrides: Any) -> MuQ:
    """A randomly initialised small MuQ (see `small_muq_config`); the same seed gives identical weights."""
    from muq import MuQ, MuQConfig

    config = small_muq_config(**config_overrides)
    # MuQ's quantizer calls torch.manual_seed(142) while building; fork so the caller's RNG is untouched
    with torch.random.fork_rng(devices=[]):
        model = MuQ(MuQConfig(**config))
        _reinitialise(model, seed)
    return model.eval()


def _reinitialise(model: nn.Module, seed: int) -> None:
    """Draw every trainable weight again from `seed` (MuQ's own init is seeded with a constant)."""
    from muq.muq.modules.random_quantizer import RandomProjectionQuantizer
    from torch.nn.utils import parametrize

    torch.manual_seed(seed)
    for module in model.modules():
        if isinstance(module, RandomProjectionQuantizer) or parametrize.is_parametrized(module):
            continue  # fixed targets of pre-training / an unused weight-normed conv: keep MuQ's own init
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
    for name, param in model.named_parameters():
        if name.endswith("cls_token"):
            with torch.no_grad():
                param.normal_()


def _small_encoder(seed: int, device: str | None, batch_size: int, layer: int | None) -> MuQEncoder:
    model = build_small_muq(seed)
    return MuQEncoder(
        model,
        source=f"small:{seed}",
        layer=layer,
        device=device,
        batch_size=batch_size,
        kind=SMALL_RANDOM_KIND,
        weights_fingerprint=f"random-init:seed{seed}:sha256:{state_dict_digest(model)}",
        label=f"seed{seed}",
        provenance={"seed": seed},
    )


# ---------------------------------------------------------------------------------------------------------
# projection heads (added by fine-tuning; part of the checkpoint format)


def build_projection_head(spec: Mapping[str, Any]) -> nn.Module:
    """A projection head from its checkpoint spec.

    `{"type": "linear", "in_dim": D, "out_dim": E}` or
    `{"type": "mlp", "in_dim": D, "hidden_dim": H, "out_dim": E, "activation": "gelu" | "relu"}`.
    """
    try:
        kind = spec["type"]
        in_dim, out_dim = int(spec["in_dim"]), int(spec["out_dim"])
        if kind == "linear":
            return nn.Linear(in_dim, out_dim)
        if kind == "mlp":
            activation = {"gelu": nn.GELU, "relu": nn.ReLU}[spec.get("activation", "gelu")]
            hidden = int(spec["hidden_dim"])
            return nn.Sequential(nn.Linear(in_dim, hidden), activation(), nn.Linear(hidden, out_dim))
    except (KeyError, TypeError, ValueError) as error:
        raise EncoderError(f"invalid projection head spec {dict(spec)!r}: {error!r}") from None
    raise EncoderError(f"unknown projection head type {kind!r} (expected 'linear' or 'mlp')")


# ---------------------------------------------------------------------------------------------------------
# loading


def load_encoder(
    spec: str = "auto",
    *,
    settings: Settings | None = None,
    device: str | None = None,
    batch_size: int = 8,
    layer: int | None = None,
) -> MuQEncoder:
    """Build the encoder named by `spec`. Never touches the network.

    - "auto": `settings.muq_local_dir` if set, else `settings.muq_hub_id` from the Hugging Face cache; when
      neither is available, the small random MuQ (seed 0) with a loud warning (`RandomEncoderWarning`).
    - "small" / "small:SEED": the small randomly initialised MuQ.
    - "mulan", "mulan:OWNER/NAME", "mulan:DIR" or "OpenMuQ/MuQ-MuLan-large": the MuQ-MuLan audio tower
      (`embedding.mulan.load_mulan`), for the tagging vector space.
    - "owner/name": a MuQ in the Hugging Face cache (offline; `EncoderError` if it is not there).
    - a directory: a MuQ `save_pretrained` directory (config.json + model.safetensors or pytorch_model.bin)
      or a MUSEED checkpoint (museed_encoder.json, see `save_encoder_checkpoint`).
    `layer` overrides the default (or recorded) hidden layer.
    """
    settings = settings or get_settings()
    spec = spec.strip()
    if spec == "mulan" or spec.startswith("mulan:") or spec.rstrip("/").endswith("MuQ-MuLan-large"):
        # the MuLan audio tower speaks the same Encoder protocol; `museed embed --also-encoder` uses it
        from embedding.mulan import load_mulan

        return load_mulan(spec if spec.startswith("mulan") else f"mulan:{spec}", device=device)  # type: ignore[return-value]
    if spec == "auto":
        return _load_auto(settings, device=device, batch_size=batch_size, layer=layer)
    if spec == "small" or spec.startswith("small:"):
        seed_text = spec.partition(":")[2] or "0"
        if not seed_text.isdigit():
            raise EncoderError(f"bad encoder spec {spec!r}: the seed in 'small:SEED' must be a whole number")
        return _small_encoder(int(seed_text), device, batch_size, layer)
    path = Path(spec).expanduser()
    if path.exists():
        return _load_directory(path, device=device, batch_size=batch_size, layer=layer)
    if _HUB_ID.fullmatch(spec):
        return _load_hub(spec, device=device, batch_size=batch_size, layer=layer)
    raise EncoderError(
        f"unknown encoder spec {spec!r}: expected 'auto', 'small', 'small:SEED', a Hugging Face repo id "
        "(owner/name) in the local cache, or an existing directory"
    )


def _load_auto(settings: Settings, *, device: str | None, batch_size: int, layer: int | None) -> MuQEncoder:
    if settings.muq_local_dir is not None:
        # an explicitly configured directory that is missing is a deployment error, not a reason to degrade
        if not Path(settings.muq_local_dir).expanduser().exists():
            raise EncoderError(f"MUSEED_MUQ_LOCAL_DIR={settings.muq_local_dir} does not exist")
        return _load_directory(
            Path(settings.muq_local_dir).expanduser(), device=device, batch_size=batch_size, layer=layer
        )
    try:
        return _load_hub(settings.muq_hub_id, device=device, batch_size=batch_size, layer=layer)
    except EncoderNotCachedError as error:  # cached-but-broken weights stay an error
        reason = str(error)
    message = (
        f"NO PRETRAINED MuQ AVAILABLE ({reason}). Falling back to a SMALL RANDOMLY INITIALISED MuQ (seed 0): "
        f"its vectors are NOT MuQ embeddings and carry encoder_id '{SMALL_RANDOM_KIND}:...'. For real "
        f"embeddings put {settings.muq_hub_id} in the Hugging Face cache or set MUSEED_MUQ_LOCAL_DIR."
    )
    log.warning(message)
    warnings.warn(message, RandomEncoderWarning, stacklevel=3)  # point at load_encoder's caller
    encoder = _small_encoder(0, device, batch_size, layer)
    encoder.provenance["fallback_reason"] = reason
    return encoder


def _load_hub(hub_id: str, *, device: str | None, batch_size: int, layer: int | None) -> MuQEncoder:
    from huggingface_hub import snapshot_download

    try:
        # local_files_only: the cache or nothing, never a network attempt (no internet here)
        snapshot = Path(snapshot_download(hub_id, local_files_only=True))
    except Exception as error:
        raise EncoderNotCachedError(
            f"{hub_id} is not in the Hugging Face cache (offline lookup: {type(error).__name__}); download it "
            f"on a connected machine (`huggingface-cli download {hub_id}`) or point MUSEED_MUQ_LOCAL_DIR at it"
        ) from None
    return _load_pretrained_dir(
        snapshot,
        source=hub_id,
        kind="muq",
        fingerprint=f"hf:{hub_id}@{snapshot.name}",  # the snapshot directory is named by the commit
        device=device,
        batch_size=batch_size,
        layer=layer,
    )


def _load_directory(path: Path, *, device: str | None, batch_size: int, layer: int | None) -> MuQEncoder:
    if not path.is_dir():
        raise EncoderError(f"{path} is not a directory (expected a MuQ save_pretrained dir or a checkpoint)")
    if (path / CHECKPOINT_FILE).is_file():
        return _load_checkpoint(path, device=device, batch_size=batch_size, layer=layer)
    if (path / "config.json").is_file():
        return _load_pretrained_dir(
            path,
            source=str(path),
            kind="muq-local",
            fingerprint=None,
            device=device,
            batch_size=batch_size,
            layer=layer,
        )
    raise EncoderError(f"{path} holds neither {CHECKPOINT_FILE} nor config.json: not an encoder directory")


def _load_pretrained_dir(
    path: Path,
    *,
    source: str,
    kind: str,
    fingerprint: str | None,
    device: str | None,
    batch_size: int,
    layer: int | None,
) -> MuQEncoder:
    """A MuQ `save_pretrained` directory, loaded here rather than by `from_pretrained` (which prints to
    stdout, reads only model.safetensors from a directory, and ignores missing weights)."""
    from muq import MuQ, MuQConfig

    config = _read_json(path / "config.json")
    if set(config) == {"config"}:  # older hub mixins nest the init argument
        config = config["config"]
    known = {f.name for f in dataclasses.fields(MuQConfig)}
    if unknown := sorted(set(config) - known):
        log.warning("ignoring unknown MuQConfig keys in %s: %s", path / "config.json", unknown)
    weights = next((path / n for n in ("model.safetensors", "pytorch_model.bin") if (path / n).is_file()), None)
    if weights is None:
        raise EncoderError(f"{path} has config.json but no model.safetensors or pytorch_model.bin")
    try:
        with torch.random.fork_rng(devices=[]):
            model = MuQ(MuQConfig(**{k: v for k, v in config.items() if k in known}))
        state = _read_weights(weights)
    except EncoderError:
        raise
    except Exception as error:
        raise EncoderError(f"cannot build MuQ from {path}: {error}") from None
    _load_state(model, state, path, required_prefixes=_REQUIRED_PREFIXES)
    return MuQEncoder(
        model.eval(),
        source=source,
        layer=layer,
        device=device,
        batch_size=batch_size,
        kind=kind,
        weights_fingerprint=fingerprint or f"sha256:{_file_digest(weights)}",
        label=path.name,
    )


def _load_checkpoint(path: Path, *, device: str | None, batch_size: int, layer: int | None) -> MuQEncoder:
    from muq import MuQ, MuQConfig

    meta = _read_json(path / CHECKPOINT_FILE)
    if meta.get("format") != CHECKPOINT_FORMAT or meta.get("format_version") != CHECKPOINT_VERSION:
        raise EncoderError(
            f"{path / CHECKPOINT_FILE} is not a {CHECKPOINT_FORMAT} v{CHECKPOINT_VERSION} file "
            f"(format={meta.get('format')!r}, version={meta.get('format_version')!r})"
        )
    if meta.get("backbone") != "muq" or meta.get("pooling", POOLING) != POOLING:
        raise EncoderError(f"{path}: unsupported backbone/pooling {meta.get('backbone')!r}/{meta.get('pooling')!r}")
    weights = path / meta.get("weights", BACKBONE_WEIGHTS_FILE)
    try:
        with torch.random.fork_rng(devices=[]):
            model = MuQ(MuQConfig(**meta["muq_config"]))
        state = _read_weights(weights)
    except EncoderError:
        raise
    except Exception as error:
        raise EncoderError(f"cannot build MuQ from {path / CHECKPOINT_FILE}: {error}") from None
    _load_state(model, state, path, required_prefixes=None)
    digests = [_file_digest(weights)]
    head, head_spec = None, meta.get("head")
    if head_spec is not None:
        head = build_projection_head(head_spec)
        head_weights = path / meta.get("head_weights", HEAD_WEIGHTS_FILE)
        _load_state(head, _read_weights(head_weights), path, required_prefixes=None)
        digests.append(_file_digest(head_weights))
    base = meta.get("base") or {}
    return MuQEncoder(
        model.eval(),
        source=str(path),
        layer=meta.get("layer") if layer is None else layer,
        device=device,
        batch_size=batch_size,
        kind="museed-ckpt",
        weights_fingerprint="sha256:" + "+".join(digests),
        head=head,
        head_spec=head_spec,
        label=f"{path.name}[{base.get('kind', 'unknown')}]",
        provenance={"base": base, "created_at": meta.get("created_at"), "extra": meta.get("extra", {})},
    )


def save_encoder_checkpoint(encoder: MuQEncoder, path: Path | str, *, extra: Mapping[str, Any] | None = None) -> Path:
    """Write `encoder` as a MUSEED checkpoint directory that `load_encoder(path)` reads back.

    Layout: `muq.safetensors` (the MuQ state dict), `head.safetensors` (only with a projection head) and
    `museed_encoder.json`: format, format_version, backbone ("muq"), muq_config, layer, pooling, sample_rate,
    dim, weights, head (spec or null), head_weights, base (encoder_id, kind, source, config_hash of the
    encoder it came from), created_at, versions, extra (free-form, e.g. training run metadata). The JSON is
    written last, so a directory with it is a complete checkpoint.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    _atomic_save(save_file, _cpu_state(encoder.model), path / BACKBONE_WEIGHTS_FILE)
    if encoder.head is not None:
        _atomic_save(save_file, _cpu_state(encoder.head), path / HEAD_WEIGHTS_FILE)
    base = encoder.provenance.get("base")  # a fine-tuned or training encoder knows where it started
    meta = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "backbone": "muq",
        "muq_config": encoder.muq_config,
        "layer": encoder.layer,
        "pooling": encoder.pooling,
        "sample_rate": encoder.sample_rate,
        "dim": encoder.dim,
        "weights": BACKBONE_WEIGHTS_FILE,
        "head": encoder.head_spec,
        "head_weights": HEAD_WEIGHTS_FILE if encoder.head is not None else None,
        "base": base
        or {
            "encoder_id": encoder.encoder_id,
            "kind": encoder.kind,
            "source": encoder.source,
            "config_hash": encoder.config_hash,
        },
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": library_versions(),
        "extra": dict(extra or {}),
    }
    tmp = path / (CHECKPOINT_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path / CHECKPOINT_FILE)
    return path


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def _atomic_save(save_file: Any, state: dict[str, torch.Tensor], target: Path) -> None:
    tmp = target.with_name(target.name + ".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, target)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise EncoderError(f"cannot read {path}: {error}") from None
    if not isinstance(data, dict):
        raise EncoderError(f"{path} does not hold a JSON object")
    return data


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise EncoderError(f"weights file {path} is missing")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise EncoderError(f"cannot read weights {path}: {error}") from None


def _load_state(
    module: nn.Module, state: Mapping[str, torch.Tensor], where: Path, *, required_prefixes: tuple[str, ...] | None
) -> None:
    """Load weights, failing on anything the embedding path needs (all keys when `required_prefixes` is None)."""
    try:
        result = module.load_state_dict(dict(state), strict=False)
    except RuntimeError as error:  # shape mismatch: the config does not describe these weights
        raise EncoderError(f"weights in {where} do not fit the model config: {error}") from None
    missing = [k for k in result.missing_keys if required_prefixes is None or k.startswith(required_prefixes)]
    if missing or (required_prefixes is None and result.unexpected_keys):
        raise EncoderError(
            f"weights in {where} do not match the model: missing {missing[:5]}, "
            f"unexpected {list(result.unexpected_keys)[:5]}"
        )
    if result.missing_keys or result.unexpected_keys:
        log.warning(
            "weights in %s: %d optional keys missing (rebuilt by MuQ), %d unexpected keys ignored",
            where,
            len(result.missing_keys),
            len(result.unexpected_keys),
        )


def _file_digest(path: Path) -> str:
    # the whole file: fine-tuning may leave the first megabytes (frozen front end) unchanged
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
