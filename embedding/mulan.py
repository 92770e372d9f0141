"""MuQ-MuLan behind the `Encoder` protocol: the audio tower for vector sets, the text tower for tag prompts.

MuQ-MuLan (`OpenMuQ/MuQ-MuLan-large`) maps 10 s clips of 24 kHz audio and free text into one joint,
L2-normalised space, so a track can be scored against text prompts ("an acoustic folk song") by cosine
similarity. `MuLanAudioEncoder` embeds clips like `MuQEncoder` does (one latent per clip, the mean per track,
re-normalised, `embedding.pooling`) and also embeds texts (`embed_texts`), so `embedding.job.embed_plain` writes
MuLan vector sets and the `tagging` package scores them.

Loading never touches the network:
- `load_mulan("mulan")` / `"mulan:OWNER/NAME"`: the MuLan snapshot from the Hugging Face cache. Its
  `config.json` names an audio model (`OpenMuQ/MuQ-large-msd-iter`) and a text model (`xlm-roberta-base`)
  that `MuQMuLan.__init__` builds with `from_pretrained`; both are resolved to their cached snapshot
  directories first, so the constructor only reads local files. The weights are `pytorch_model.bin` (the only
  file MuLan ships), loaded over the constructed model.
- `load_mulan("mulan:/some/dir")`: a local directory with the same layout (config.json + pytorch_model.bin).
- `build_small_mulan(dir, seed, texts=...)`: a SMALL randomly initialised MuQ-MuLan made entirely offline: a
  small MuQ (`save_pretrained` into `dir/muq-small/`), a small `XLMRobertaModel` plus an
  `XLMRobertaTokenizerFast` whose word-level vocabulary is trained with `tokenizers` on `texts`
  (`dir/xlm-roberta-small/`; tagging passes its label prompts, `tagging.all_prompt_texts()`), then
  `MuQMuLan(config)` over those paths, saved as `dir/mulan/` in the real layout and loaded back through the
  same code as the real weights. Its scores mean nothing; it exists so the MuLan path runs in tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from embedding.base import EncoderError, EncoderNotCachedError, library_versions, state_dict_digest
from embedding.pooling import l2_normalise, pool_tracks
from embedding.small_muq import build_small_muq

if TYPE_CHECKING:
    from muq import MuQMuLan

log = logging.getLogger(__name__)

MULAN_HUB_ID = "OpenMuQ/MuQ-MuLan-large"
MULAN_WEIGHTS = "pytorch_model.bin"
SMALL_MULAN_KIND = "mulan-small-random"
_SMALL_TEXT_DIR = "xlm-roberta-small"  # MuQMuLan picks the text backbone by "xlm-roberta" in the name
_SMALL_AUDIO_DIR = "muq-small"  # ... and the audio backbone by "muq" in the name
_MULAN_DIR = "mulan"
_SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")  # XLM-R's order: bos 0, pad 1, eos 2, unk 3


class MuLanAudioEncoder:
    """MuQ-MuLan's audio tower as an `Encoder` (clip latents -> mean per track -> L2), plus its text tower."""

    pooling = "mean"
    layer = -1  # MuLan's own latent, not a hidden layer of MuQ

    def __init__(
        self,
        model: MuQMuLan,
        *,
        source: str,
        kind: str = "mulan",
        weights_fingerprint: str | None = None,
        device: str | None = None,
        batch_size: int = 4,
        label: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise EncoderError("batch_size must be >= 1")
        self.model = model
        self.kind = kind
        self.source = source
        self.batch_size = batch_size
        self.sample_rate = int(model.config.mulan.sr)
        self.dim = int(model.config.mulan.dim_latent)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model.to(self.device).eval()
        self.weights_fingerprint = weights_fingerprint or f"sha256:{state_dict_digest(model)}"
        canonical = json.dumps(
            {"kind": kind, "config": _plain(model.config), "weights": self.weights_fingerprint, "pooling": "mean"},
            sort_keys=True,
            default=str,
        )
        self.config_hash = hashlib.sha256(canonical.encode()).hexdigest()
        self.encoder_id = f"mulan:{source}" if kind == "mulan" else f"{kind}:{label or source}:{self.config_hash[:8]}"

    def __repr__(self) -> str:
        return f"MuLanAudioEncoder({self.encoder_id!r}, dim={self.dim}, device={self.device})"

    def describe(self) -> dict[str, Any]:
        """Everything needed to reproduce this encoder's vectors (JSON-serialisable)."""
        return {
            "encoder_id": self.encoder_id,
            "kind": self.kind,
            "source": self.source,
            "space": "mulan",  # taggers check this: text prompts can only be scored against MuLan vectors
            "sample_rate": self.sample_rate,
            "dim": self.dim,
            "layer": self.layer,
            "pooling": self.pooling,
            "normalise": "clip latents (L2) averaged per track, then L2-normalised",
            "mulan_config": _plain(self.model.config),
            "device": str(self.device),
            "batch_size": self.batch_size,
            "weights_fingerprint": self.weights_fingerprint,
            "config_hash": self.config_hash,
            "versions": library_versions(),
        }

    def embed_segments(self, segments: np.ndarray) -> np.ndarray:
        """(n, samples) float32 clips at `sample_rate` -> (n, dim) L2-normalised MuLan audio latents."""
        arr = np.asarray(segments)
        if arr.ndim != 2:
            raise EncoderError(f"segments must be a 2-D (n_segments, samples) array, got shape {arr.shape}")
        if len(arr) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise EncoderError("segments contain NaN or infinite values")
        parts = []
        with torch.inference_mode():
            for start in range(0, len(arr), self.batch_size):
                chunk = torch.from_numpy(arr[start : start + self.batch_size]).to(self.device)
                parts.append(self.model.mulan_module.get_audio_latents(chunk).float().cpu().numpy())
        return np.concatenate(parts).astype(np.float32, copy=False)

    def embed_tracks(self, tracks: Sequence[np.ndarray]) -> np.ndarray:
        """Clip arrays per track -> (len(tracks), dim) L2-normalised track vectors (mean of clip latents)."""
        if len(tracks) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        clip_vectors: list[np.ndarray | None] = []
        for i, clips in enumerate(tracks):
            if len(clips) == 0:
                raise EncoderError(f"track {i} has no segments")
            clip_vectors.append(self.embed_segments(clips))
        return pool_tracks(clip_vectors, self.dim)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> (n, dim) L2-normalised MuLan text latents, one text per forward pass.

        MuLan's text tower mean-pools over every position, padding included, so in a padded batch a text's
        vector would depend on its longest neighbour; one at a time, a prompt always gets the same vector.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with torch.inference_mode():
            latents = [self.model.extract_text_latents([text]) for text in texts]
        return l2_normalise(torch.cat(latents).float().cpu().numpy())


def _plain(config: Any) -> Any:
    return json.loads(json.dumps(config, default=lambda o: getattr(o, "__dict__", str(o))))


# ---------------------------------------------------------------------------------------------------------
# loading


def load_mulan(spec: str = "mulan", *, device: str | None = None, batch_size: int = 4) -> MuLanAudioEncoder:
    """The MuQ-MuLan named by `spec`, never over the network.

    "mulan" (= "mulan:OpenMuQ/MuQ-MuLan-large") or "mulan:OWNER/NAME": from the Hugging Face cache
    (`EncoderNotCachedError` when absent); "mulan:DIR" or a bare existing DIR: a local MuLan directory
    (config.json + pytorch_model.bin, e.g. the `mulan/` of `build_small_mulan`).
    """
    target = spec.strip().removeprefix("mulan:") if spec.strip() != "mulan" else MULAN_HUB_ID
    path = Path(target).expanduser()
    if path.exists():
        return load_mulan_dir(path, device=device, batch_size=batch_size)
    from huggingface_hub import snapshot_download

    try:
        snapshot = Path(snapshot_download(target, local_files_only=True))
    except Exception as error:
        raise EncoderNotCachedError(
            f"{target} is not in the Hugging Face cache (offline lookup: {type(error).__name__}); download it on a "
            f"connected machine (`huggingface-cli download {target}`, plus OpenMuQ/MuQ-large-msd-iter and "
            "xlm-roberta-base) or pass a local MuLan directory"
        ) from None
    return load_mulan_dir(snapshot, device=device, batch_size=batch_size, source=target)


def load_mulan_dir(
    path: Path, *, device: str | None = None, batch_size: int = 4, source: str | None = None
) -> MuLanAudioEncoder:
    """A MuQ-MuLan directory (config.json + pytorch_model.bin) whose backbones are local dirs or cached hub ids."""
    from muq import MuQMuLan

    path = Path(path)
    config = _read_config(path)
    weights = path / MULAN_WEIGHTS
    if not weights.is_file():
        raise EncoderError(f"{path} has no {MULAN_WEIGHTS} (MuQ-MuLan ships its weights only as {MULAN_WEIGHTS})")
    for part in ("audio_model", "text_model"):
        config[part]["name"] = _resolve_backbone(str(config[part]["name"]))
    meta = config.pop("museed", None) or {}
    try:
        with torch.random.fork_rng(devices=[]), _quiet_stdout():
            model = MuQMuLan(config)
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as error:
        raise EncoderError(f"cannot build MuQ-MuLan from {path}: {type(error).__name__}: {error}") from None
    result = model.load_state_dict(state, strict=False)
    needed = [k for k in result.missing_keys if not k.endswith(("position_ids", "num_batches_tracked"))]
    if needed:
        raise EncoderError(f"weights in {weights} do not match the model: missing {needed[:5]}")
    kind = str(meta.get("kind", "mulan" if source else "mulan-local"))
    return MuLanAudioEncoder(
        model.eval(),
        source=source or str(path),
        kind=kind,
        weights_fingerprint=f"hf:{source}@{path.name}" if source else None,
        device=device,
        batch_size=batch_size,
        label=str(meta.get("label", path.parent.name if path.name == _MULAN_DIR else path.name)),
    )


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as error:
        raise EncoderError(f"{path} is not a MuQ-MuLan directory: cannot read config.json ({error})") from None
    if set(config) == {"config"}:  # older hub mixins nest the init argument
        config = config["config"]
    missing = {"mulan", "audio_model", "text_model", "audio_transformer", "text_transformer"} - set(config)
    if missing:
        raise EncoderError(f"{path / 'config.json'} is not a MuQ-MuLan config: missing {sorted(missing)}")
    return dict(config)


def _resolve_backbone(name: str) -> str:
    """A backbone name as a local directory: as given, or the cached snapshot of a hub id (never downloaded)."""
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    from huggingface_hub import snapshot_download

    candidates = [name] + (["FacebookAI/" + name] if "/" not in name else [])  # xlm-roberta-base moved
    for candidate in candidates:
        with contextlib.suppress(Exception):
            return str(snapshot_download(candidate, local_files_only=True))
    raise EncoderNotCachedError(
        f"MuQ-MuLan needs the backbone {name!r}, which is not in the Hugging Face cache "
        f"(`huggingface-cli download {name}` on a connected machine)"
    )


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    # MuQ.from_pretrained prints to stdout; the CLI's stdout is for results
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


# ---------------------------------------------------------------------------------------------------------
# the small random MuQ-MuLan


def build_small_mulan(
    directory: Path,
    seed: int = 0,
    *,
    texts: Sequence[str],
    dim: int = 64,
    device: str | None = None,
) -> MuLanAudioEncoder:
    """Build (or reuse) a small randomly initialised MuQ-MuLan under `directory`, offline, and load it.

    Writes `muq-small/` (small MuQ, `save_pretrained`), `xlm-roberta-small/` (a 2-layer `XLMRobertaModel` and
    an `XLMRobertaTokenizerFast` with a word-level vocabulary trained on `texts`; for tagging pass
    `tagging.all_prompt_texts()`, every label prompt) and `mulan/` (config.json + pytorch_model.bin, the real
    MuLan layout), then loads `mulan/` with `load_mulan_dir`. Same seed and texts, same weights. Its scores are
    random: it tests code, not music.
    """
    directory = Path(directory)
    mulan_dir = directory / _MULAN_DIR
    if not (mulan_dir / MULAN_WEIGHTS).is_file():
        _write_small_mulan(directory, seed, texts, dim)
    return load_mulan_dir(mulan_dir, device=device)


def _write_small_mulan(directory: Path, seed: int, texts: Sequence[str], dim: int) -> None:
    from muq import MuQMuLan

    audio_dir, text_dir, mulan_dir = directory / _SMALL_AUDIO_DIR, directory / _SMALL_TEXT_DIR, directory / _MULAN_DIR
    muq = build_small_muq(seed)
    muq.save_pretrained(str(audio_dir))
    text_dim = _write_small_text_model(text_dir, list(texts), seed)
    config: dict[str, Any] = {
        "mulan": {"sr": 24000, "clip_secs": 10, "dim_latent": dim, "rank_contrast": True},
        "audio_model": {"name": str(audio_dir), "model_dim": int(muq.config.encoder_dim), "use_layer_idx": -1},
        "text_model": {"name": str(text_dir), "model_dim": text_dim},
        "audio_transformer": {"dim": dim, "tf_depth": 1, "heads": 2, "dim_head": dim // 2},
        "text_transformer": {"dim": dim, "tf_depth": 1, "heads": 2, "dim_head": dim // 2, "max_seq_len": 64},
    }
    with torch.random.fork_rng(devices=[]), _quiet_stdout():
        torch.manual_seed(seed)
        model = MuQMuLan(json.loads(json.dumps(config)))
    mulan_dir.mkdir(parents=True, exist_ok=True)
    tmp = mulan_dir / (MULAN_WEIGHTS + ".tmp")
    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, tmp)
    meta = {"kind": SMALL_MULAN_KIND, "label": f"seed{seed}", "seed": seed}
    (mulan_dir / "config.json").write_text(json.dumps({**config, "museed": meta}, indent=2) + "\n")
    os.replace(tmp, mulan_dir / MULAN_WEIGHTS)  # the weights last: their presence marks a complete build


def _write_small_text_model(text_dir: Path, texts: list[str], seed: int, hidden: int = 64) -> int:
    """A 2-layer XLM-RoBERTa and a word-level fast tokenizer trained on `texts`; returns the hidden size."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=list(_SPECIAL_TOKENS)))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    fast = XLMRobertaTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
    )
    config = XLMRobertaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=130,  # XLM-R offsets positions by pad_token_id + 1
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = XLMRobertaModel(config)
    model.save_pretrained(str(text_dir))
    fast.save_pretrained(str(text_dir))
    return hidden
