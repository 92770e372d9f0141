"""MusiCNN (Pons & Serra 2019) in PyTorch, with the pretrained weights the `musicnn` wheel ships, and no TensorFlow.

The network is musicnn's `build_musicnn` (MSD_musicnn and MTT_musicnn share it): a batch-normalised 96-band
log-mel patch of 187 frames (3 s at 16 kHz, hop 256) -> timbral convolutions (7x38, 7x67, 204 filters each,
max over frequency) and temporal ones (128x1, 64x1, 32x1, 51 filters each) -> three dense 1-D convolutions
(64 filters, kernel 7, two residual) -> max and mean over time of all 753 channels (interleaved, 1506-d) ->
dense 200 + ReLU + BatchNorm (the *penultimate* layer, the embedding) -> dense 50 (tag logits). Dropout is left
out: it only acts in TensorFlow's training mode. Weights come from the TF1 checkpoint inside the installed
package (`embedding.tf_checkpoint`); a missing tensor or a shape that differs is an error, never random weights.

The front end is musicnn's, but in float32: |STFT|^2 (n_fft 512, Hann, centred, zero padding) -> librosa's
Slaney mel filters -> log10(10000 x + 1). A clip is cut into consecutive 187-frame patches (a clip shorter than
one patch is one shorter patch; the network pools over any length); its "hidden states" are the per-patch
1506-d pooled features (layer 0) and the 200-d penultimate layer (layer 1, the default), so the clip vector is
the mean over patches, exactly as MuQ's is the mean over frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from embedding.base import EncoderError

MUSICNN_SAMPLE_RATE = 16_000
N_FFT, HOP, N_MELS = 512, 256, 96
PATCH_FRAMES = 187  # 3 s, the length musicnn was trained on
VARIANTS = ("MSD_musicnn", "MTT_musicnn")
LAYER_DIMS = (1506, 200)  # hidden state 0: pooled mid-end features; 1: the penultimate dense layer
BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization's default
MSD_LABELS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock",
    "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb",
    "indie pop", "sad", "House", "happy",
)  # fmt: skip
MTT_LABELS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano", "ambient",
    "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals", "no vocals",
    "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo",
    "man", "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats", "harp",
    "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)  # fmt: skip
#: what a vector set records about the weights' terms (the package's licence and its training data's)
WEIGHTS_LICENCE = (
    "musicnn 0.1.0 code and weights: ISC (Music Technology Group, Universitat Pompeu Fabra). Training data: "
    "{data}. No separate licence for the trained weights is stated; check the data terms before commercial use."
)
TRAINING_DATA = {
    "MSD_musicnn": "Million Song Dataset audio previews (7digital clips, research use) with Last.fm tags",
    "MTT_musicnn": "MagnaTagATune (Magnatune audio, CC BY-NC-SA 1.0 per its distribution page)",
}


class MusicnnNotInstalledError(EncoderError):
    """The `musicnn` wheel (which holds the weights) is not installed: the one case `auto` falls past MusiCNN."""


class TimbralBlock(nn.Module):
    """Conv (7 x freq) over the log-mel, ReLU, BatchNorm, max over the remaining frequency bins."""

    def __init__(self, freq: int, filters: int = 204) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, filters, (7, freq))
        self.bn = nn.BatchNorm2d(filters, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, T, 96) normalised log-mel -> (B, filters, T)."""
        y: torch.Tensor = self.bn(F.relu(self.conv(F.pad(x, (0, 0, 3, 3)))))
        return y.amax(dim=3)


class TemporalBlock(nn.Module):
    """Conv (kernel x 1) along time per mel band with TensorFlow's 'same' padding, ReLU, BatchNorm, max over bands."""

    def __init__(self, kernel: int, filters: int = 51) -> None:
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv2d(1, filters, (kernel, 1))
        self.bn = nn.BatchNorm2d(filters, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, T, 96) -> (B, filters, T)."""
        before = (self.kernel - 1) // 2  # TF 'same' puts the odd extra frame after
        y: torch.Tensor = self.bn(F.relu(self.conv(F.pad(x, (0, 0, before, self.kernel - 1 - before)))))
        return y.amax(dim=3)


class MidendBlock(nn.Module):
    """Conv over all channels (kernel 7 in time), ReLU, BatchNorm: musicnn's 'dense' mid-end layer, as a Conv1d."""

    def __init__(self, channels: int, filters: int = 64) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, filters, 7)
        self.bn = nn.BatchNorm1d(filters, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, channels, T) -> (B, filters, T)."""
        y: torch.Tensor = self.bn(F.relu(self.conv(F.pad(x, (3, 3)))))
        return y


@dataclass
class MusicnnOutput:
    """One forward pass: the two hidden states (B, patches, D) and the tag logits (B, patches, 50)."""

    hidden_states: tuple[torch.Tensor, torch.Tensor]
    logits: torch.Tensor


class MusicnnNet(nn.Module):
    """The MSD_musicnn / MTT_musicnn network on log-mel patches (inference graph: no dropout)."""

    def __init__(self, n_classes: int = 50) -> None:
        super().__init__()
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPS)
        self.timbral = nn.ModuleList([TimbralBlock(38), TimbralBlock(67)])
        self.temporal = nn.ModuleList([TemporalBlock(128), TemporalBlock(64), TemporalBlock(32)])
        self.midend = nn.ModuleList([MidendBlock(561), MidendBlock(64), MidendBlock(64)])
        self.pool_bn = nn.BatchNorm1d(LAYER_DIMS[0], eps=BN_EPS)
        self.dense = nn.Linear(LAYER_DIMS[0], LAYER_DIMS[1])
        self.dense_bn = nn.BatchNorm1d(LAYER_DIMS[1], eps=BN_EPS)
        self.classifier = nn.Linear(LAYER_DIMS[1], n_classes)

    def forward(self, logmel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, T, 96) log-mel patches -> (max_pool (N, 753), mean_pool (N, 753), penultimate (N, 200), logits)."""
        x = self.input_bn(logmel.unsqueeze(1))
        front = torch.cat([b(x) for b in self.timbral] + [b(x) for b in self.temporal], dim=1)  # (N, 561, T)
        conv1 = self.midend[0](front)
        res2 = self.midend[1](conv1) + conv1
        res3 = self.midend[2](res2) + res2
        features = torch.cat([front, conv1, res2, res3], dim=1)  # (N, 753, T)
        max_pool, mean_pool = features.amax(dim=2), features.mean(dim=2)
        pooled = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # TF flattens (753, 2): max/mean interleaved
        penultimate = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))
        return max_pool, mean_pool, penultimate, self.classifier(penultimate)


class LogMel(nn.Module):
    """musicnn's log-mel front end in float32 (differentiable, so fine-tuning can start from waveforms)."""

    mel_filters: torch.Tensor
    window: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        import librosa

        filters = librosa.filters.mel(sr=MUSICNN_SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS).astype(np.float32)
        self.register_buffer("mel_filters", torch.from_numpy(filters), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        """(B, samples) 16 kHz -> (B, frames, 96) log10(10000 mel + 1), frames = 1 + samples // 256."""
        spec = torch.stft(
            waves.float(), N_FFT, HOP, window=self.window, center=True, pad_mode="constant", return_complex=True
        )
        power = spec.real.square() + spec.imag.square()
        mel = torch.matmul(self.mel_filters, power)  # (B, 96, frames)
        return torch.log10(10000.0 * mel + 1.0).transpose(1, 2)


class MusicnnBackbone(nn.Module):
    """Waveform clips -> per-patch hidden states, with the call shape of `muq.MuQ` (`output_hidden_states`)."""

    def __init__(self, variant: str) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise EncoderError(f"unknown musicnn variant {variant!r}; expected one of {VARIANTS}")
        self.variant = variant
        self.frontend = LogMel()
        self.net = MusicnnNet()

    def patches(self, waves: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(B, samples) -> ((B * P, frames, 96) log-mel patches, P): consecutive 187-frame patches per clip."""
        logmel = self.frontend(waves)
        frames = logmel.shape[1]
        n_patches = max(1, frames // PATCH_FRAMES)
        length = PATCH_FRAMES if frames >= PATCH_FRAMES else frames
        cut = logmel[:, : n_patches * length].reshape(len(waves) * n_patches, length, N_MELS)
        return cut, n_patches

    def forward(self, waves: torch.Tensor, output_hidden_states: bool = True) -> MusicnnOutput:
        """(B, samples) 16 kHz clips -> hidden states (B, P, 1506) and (B, P, 200), logits (B, P, 50)."""
        patches, n = self.patches(waves)
        max_pool, mean_pool, penultimate, logits = self.net(patches)
        pooled = torch.stack([max_pool, mean_pool], dim=2).flatten(1)
        batch = len(waves)
        return MusicnnOutput(
            hidden_states=(pooled.reshape(batch, n, -1), penultimate.reshape(batch, n, -1)),
            logits=logits.reshape(batch, n, -1),
        )


# ------------------------------------------------------------------------------------------------ weights


def package_dir() -> Path:
    """Where the installed `musicnn` wheel keeps its checkpoints (`EncoderError` when it is not installed)."""
    import importlib.util

    spec = importlib.util.find_spec("musicnn")
    if spec is None or spec.origin is None:
        raise MusicnnNotInstalledError(
            "the musicnn package is not installed: run scripts/bootstrap.sh (it installs musicnn==0.1.0 --no-deps)"
        )
    return Path(spec.origin).parent


def package_version() -> str:
    """The installed musicnn distribution's version (where the weights came from)."""
    try:
        return metadata.version("musicnn")
    except metadata.PackageNotFoundError:
        return "not installed"


def tf_variable_map(net: MusicnnNet) -> dict[str, tuple[str, str]]:
    """PyTorch state-dict key -> (TF variable name, how to convert it), in the order musicnn's graph builds them."""
    # musicnn's graph creates its layers in the order this module registers them, so the k-th BatchNorm
    # here is TF's batch_normalization_k, the k-th convolution conv2d_k and the k-th Linear dense_k
    modules = list(net.named_modules())
    bns = [n for n, m in modules if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    convs = [(n, isinstance(m, nn.Conv1d)) for n, m in modules if isinstance(m, nn.Conv1d | nn.Conv2d)]
    linears = [n for n, m in modules if isinstance(m, nn.Linear)]
    mapping: dict[str, tuple[str, str]] = {}
    for i, name in enumerate(bns):
        tf = "batch_normalization" + (f"_{i}" if i else "")
        for ours, theirs in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean")):
            mapping[f"{name}.{ours}"] = (f"{tf}/{theirs}", "copy")
        mapping[f"{name}.running_var"] = (f"{tf}/moving_variance", "copy")
    for i, (name, is_1d) in enumerate(convs):
        tf = "conv2d" + (f"_{i}" if i else "")
        mapping[f"{name}.weight"] = (f"{tf}/kernel", "conv1d" if is_1d else "conv2d")
        mapping[f"{name}.bias"] = (f"{tf}/bias", "copy")
    for i, name in enumerate(linears):
        tf = "dense" + (f"_{i}" if i else "")
        mapping[f"{name}.weight"] = (f"{tf}/kernel", "linear")
        mapping[f"{name}.bias"] = (f"{tf}/bias", "copy")
    return mapping


def convert_tf_tensor(value: np.ndarray, kind: str) -> np.ndarray:
    """A TF kernel in PyTorch's layout: conv2d HWIO -> OIHW, a (7, C, 1, O) conv -> Conv1d (O, C, 7), dense IO -> OI."""
    if kind == "conv2d":
        return np.ascontiguousarray(value.transpose(3, 2, 0, 1))
    if kind == "conv1d":
        return np.ascontiguousarray(value[:, :, 0, :].transpose(2, 1, 0))
    if kind == "linear":
        return np.ascontiguousarray(value.T)
    return value


def load_tf_weights(net: MusicnnNet, checkpoint_prefix: Path | str, *, verify_crc: bool = True) -> dict[str, str]:
    """Copy every tensor of `net` from the TF1 checkpoint; any missing tensor or shape mismatch raises.

    `verify_crc=False` skips the per-tensor CRC-32C (pure Python, slow) when the files were verified otherwise.
    Returns PyTorch key -> TF variable name (what was loaded from where).
    """
    from embedding.tf_checkpoint import TFCheckpoint

    checkpoint = TFCheckpoint(checkpoint_prefix)
    state = net.state_dict()
    mapping = tf_variable_map(net)
    if unmapped := sorted(set(state) - set(mapping) - {k for k in state if k.endswith("num_batches_tracked")}):
        raise EncoderError(f"no TF variable mapped for {unmapped[:5]}")
    loaded: dict[str, torch.Tensor] = {}
    for key, (tf_name, kind) in mapping.items():
        if tf_name not in checkpoint.entries:
            raise EncoderError(f"{checkpoint.prefix}: tensor {tf_name!r} (for {key}) is missing from the checkpoint")
        value = convert_tf_tensor(checkpoint.read(tf_name, verify_crc=verify_crc), kind)
        if tuple(value.shape) != tuple(state[key].shape):
            raise EncoderError(
                f"{checkpoint.prefix}: {tf_name} has shape {value.shape} after conversion, {key} needs "
                f"{tuple(state[key].shape)}"
            )
        loaded[key] = torch.from_numpy(value)
    net.load_state_dict(loaded, strict=False)  # strict on what matters was checked above; counters stay
    return {k: v[0] for k, v in mapping.items()}


def build_musicnn(variant: str = "MSD_musicnn", package: Path | None = None) -> MusicnnBackbone:
    """The pretrained MusiCNN `variant` from the installed wheel's checkpoint, in eval mode."""
    backbone = MusicnnBackbone(variant)
    prefix = (package or package_dir()) / variant
    if not (prefix / ".index").is_file():
        raise EncoderError(f"{prefix} has no TF checkpoint (.index): the musicnn wheel is incomplete")
    verified = verify_wheel_files(prefix)
    # the wheel's checkpoint prefix is the bare directory; sha256-verified files need no per-tensor CRC
    load_tf_weights(backbone.net, str(prefix) + "/", verify_crc=not verified)
    return backbone.eval()


def verify_wheel_files(prefix: Path) -> bool:
    """Check the checkpoint's files against the sha256 the installed wheel's RECORD lists for them.

    Raises `EncoderError` on a mismatch (a modified or damaged install); returns False when RECORD lists no
    hashes for them (then the reader's CRC-32C checks are the integrity check).
    """
    import base64
    import hashlib

    try:
        files = metadata.files("musicnn") or []
    except metadata.PackageNotFoundError:
        return False
    wanted = {".index", ".data-00000-of-00001"}
    checked = 0
    for record in files:
        where = Path(str(record))
        if record.hash is None or record.hash.mode != "sha256" or where.parent.name != prefix.name:
            continue
        if where.name not in wanted:
            continue
        path = prefix / where.name
        digest = base64.urlsafe_b64encode(hashlib.sha256(path.read_bytes()).digest()).rstrip(b"=").decode()
        if digest != record.hash.value:
            raise EncoderError(f"{path} differs from the file the musicnn wheel installed (sha256 mismatch)")
        checked += 1
    return checked == len(wanted)


def tag_labels(variant: str) -> tuple[str, ...]:
    """The 50 tag names of `variant`'s classifier, in output order."""
    return MSD_LABELS if variant.startswith("MSD") else MTT_LABELS


def weights_licence(variant: str) -> str:
    """One line on the licence of the code and weights and the terms of the data they were trained on."""
    return WEIGHTS_LICENCE.format(data=TRAINING_DATA[variant])


def musicnn_config(variant: str) -> Mapping[str, Any]:
    """The fixed architecture and front end, recorded with every vector set (what `describe()` calls its config)."""
    return {
        "variant": variant,
        "sample_rate": MUSICNN_SAMPLE_RATE,
        "n_fft": N_FFT,
        "hop": HOP,
        "n_mels": N_MELS,
        "patch_frames": PATCH_FRAMES,
        "layer_dims": list(LAYER_DIMS),
        "logmel": "log10(10000 * mel + 1), float32",
        "package": f"musicnn=={package_version()}",
    }
