"""A pure-Python reader of TensorFlow 1 checkpoints (the tensor-bundle format), so serving needs no TensorFlow.

A checkpoint prefix `P` is two files: `P.index`, an SSTable (LevelDB table) whose keys are tensor names and
whose values are `BundleEntryProto` messages (dtype, shape, shard, offset, size, crc32c), and
`P.data-00000-of-00001`, the raw little-endian tensor bytes. The SSTable footer points at an index block, whose
entries point at the data blocks; blocks are prefix-compressed key/value runs followed by restart offsets.
Every inconsistency (bad magic, compressed block, unknown dtype, a tensor outside the data file, a checksum
that does not match) raises `CheckpointFormatError`: a checkpoint that cannot be read must never turn into
randomly initialised weights.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedding.base import EncoderError

_TABLE_MAGIC = 0xDB4775248B80FB57  # LevelDB's table magic number, the last 8 bytes of every SSTable
_FOOTER_BYTES = 48
_BLOCK_TRAILER_BYTES = 5  # 1 byte compression type + 4 bytes masked crc32c
# tensorflow/core/framework/types.proto DataType values -> numpy dtypes (the ones checkpoints here use)
_DTYPES: dict[int, np.dtype[np.generic]] = {
    1: np.dtype("<f4"),
    2: np.dtype("<f8"),
    3: np.dtype("<i4"),
    4: np.dtype("u1"),
    5: np.dtype("<i2"),
    6: np.dtype("i1"),
    9: np.dtype("<i8"),
    10: np.dtype("?"),
    19: np.dtype("<f2"),
}


class CheckpointFormatError(EncoderError):
    """A TF1 checkpoint file that is missing, truncated or not in the tensor-bundle format."""


@dataclass(frozen=True)
class BundleEntry:
    """Where one tensor lives in the data file (a decoded `BundleEntryProto`)."""

    name: str
    dtype: np.dtype[np.generic]
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int | None


class TFCheckpoint:
    """The tensors of one TF1 checkpoint prefix (`<dir>/` for musicnn's nameless prefix, or `<dir>/model.ckpt`)."""

    def __init__(self, prefix: Path | str) -> None:
        self.prefix = str(prefix)
        index = Path(self.prefix + ".index")
        if not index.is_file():
            raise CheckpointFormatError(f"no checkpoint index at {index}")
        self._num_shards, self.entries = _read_index(index.read_bytes(), index)
        shards = {e.shard_id for e in self.entries.values()}
        if shards and max(shards) >= self._num_shards:
            raise CheckpointFormatError(f"{index}: a tensor names shard {max(shards)} of {self._num_shards}")

    def names(self) -> list[str]:
        """Every tensor name in the checkpoint, sorted."""
        return sorted(self.entries)

    def shape(self, name: str) -> tuple[int, ...]:
        """The shape recorded for `name` (`KeyError` when the checkpoint has no such tensor)."""
        return self.entries[name].shape

    def read(self, name: str, *, verify_crc: bool = True) -> np.ndarray:
        """The tensor `name` as a numpy array of its recorded dtype and shape (a copy, writable)."""
        if name not in self.entries:
            raise CheckpointFormatError(f"{self.prefix}: no tensor named {name!r}")
        entry = self.entries[name]
        data = Path(f"{self.prefix}.data-{entry.shard_id:05d}-of-{self._num_shards:05d}")
        expected = int(np.prod(entry.shape, dtype=np.int64)) * entry.dtype.itemsize
        if entry.size != expected:
            raise CheckpointFormatError(f"{name}: {entry.size} bytes recorded, shape {entry.shape} needs {expected}")
        try:
            with data.open("rb") as handle:
                handle.seek(entry.offset)
                raw = handle.read(entry.size)
        except OSError as error:
            raise CheckpointFormatError(f"cannot read {data}: {error}") from None
        if len(raw) != entry.size:
            raise CheckpointFormatError(f"{data} is truncated: {name} needs bytes {entry.offset}+{entry.size}")
        if verify_crc and entry.crc32c is not None and _masked_crc32c(raw) != entry.crc32c:
            raise CheckpointFormatError(f"{name}: crc32c of the bytes in {data} does not match the index")
        return np.frombuffer(raw, dtype=entry.dtype).reshape(entry.shape).copy()


# ------------------------------------------------------------------------------------------------ SSTable


def _read_index(blob: bytes, where: Path) -> tuple[int, dict[str, BundleEntry]]:
    """(number of data shards, tensor name -> entry) from the bytes of an `.index` file."""
    if len(blob) < _FOOTER_BYTES:
        raise CheckpointFormatError(f"{where} is too short to be an SSTable")
    footer = blob[-_FOOTER_BYTES:]
    if struct.unpack("<Q", footer[-8:])[0] != _TABLE_MAGIC:
        raise CheckpointFormatError(f"{where} is not an SSTable (bad magic)")
    pos = 0
    _meta_offset, pos = _varint(footer, pos)
    _meta_size, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)
    entries: dict[str, BundleEntry] = {}
    num_shards = 1
    for _, handle in _block_items(_block(blob, index_offset, index_size, where), where):
        offset, hpos = _varint(handle, 0)
        size, _ = _varint(handle, hpos)
        for key, value in _block_items(_block(blob, offset, size, where), where):
            name = key.decode("utf-8")
            if name == "":  # the empty key holds the bundle header
                num_shards = _header(value, where)
            else:
                entries[name] = _entry(name, value, where)
    return num_shards, entries


def _block(blob: bytes, offset: int, size: int, where: Path) -> bytes:
    end = offset + size
    if end + _BLOCK_TRAILER_BYTES > len(blob):
        raise CheckpointFormatError(f"{where}: a block runs past the end of the file")
    if blob[end] != 0:  # TensorFlow writes bundle indexes uncompressed; anything else is not one of them
        raise CheckpointFormatError(f"{where}: compressed SSTable blocks (type {blob[end]}) are not supported")
    (stored,) = struct.unpack("<I", blob[end + 1 : end + 5])
    if _masked_crc32c(blob[offset : end + 1]) != stored:
        raise CheckpointFormatError(f"{where}: block checksum mismatch at offset {offset}")
    return blob[offset:end]


def _block_items(block: bytes, where: Path) -> list[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise CheckpointFormatError(f"{where}: empty SSTable block")
    (restarts,) = struct.unpack("<I", block[-4:])
    limit = len(block) - 4 * (restarts + 1)
    if limit < 0:
        raise CheckpointFormatError(f"{where}: bad restart count {restarts}")
    items: list[tuple[bytes, bytes]] = []
    key, pos = b"", 0
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + value_len > limit:
            raise CheckpointFormatError(f"{where}: corrupt SSTable entry at byte {pos}")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        items.append((key, block[pos : pos + value_len]))
        pos += value_len
    return items


# ------------------------------------------------------------------------------------------------ protobuf


def _fields(message: bytes, where: Path) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of a protobuf message: varints as int, fixed32/64 as int, the rest as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(message):
        tag, pos = _varint(message, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(message, pos)
            out.append((number, value))
        elif wire == 1:
            out.append((number, struct.unpack("<Q", message[pos : pos + 8])[0]))
            pos += 8
        elif wire == 2:
            length, pos = _varint(message, pos)
            out.append((number, message[pos : pos + length]))
            pos += length
        elif wire == 5:
            out.append((number, struct.unpack("<I", message[pos : pos + 4])[0]))
            pos += 4
        else:
            raise CheckpointFormatError(f"{where}: unsupported protobuf wire type {wire}")
    if pos != len(message):
        raise CheckpointFormatError(f"{where}: truncated protobuf message")
    return out


def _header(value: bytes, where: Path) -> int:
    """num_shards of a BundleHeaderProto (num_shards = 1, endianness = 2 with 0 = little, version = 3)."""
    fields = {number: field for number, field in _fields(value, where) if isinstance(field, int)}
    if fields.get(2, 0) != 0:
        raise CheckpointFormatError(f"{where}: big-endian checkpoints are not supported")
    return fields.get(1, 1)


def _entry(name: str, value: bytes, where: Path) -> BundleEntry:
    # BundleEntryProto: dtype = 1, shape = 2, shard_id = 3, offset = 4, size = 5, crc32c = 6, slices = 7
    fields = _fields(value, where)
    ints = {number: field for number, field in fields if isinstance(field, int)}
    blobs = {number: field for number, field in fields if isinstance(field, bytes)}
    if 7 in blobs:
        raise CheckpointFormatError(f"{where}: {name} is a partitioned (sliced) variable, not supported")
    dtype_code = ints.get(1, 0)
    if dtype_code not in _DTYPES:
        raise CheckpointFormatError(f"{where}: {name} has unsupported dtype code {dtype_code}")
    shape = _shape(blobs.get(2, b""), where)
    return BundleEntry(name, _DTYPES[dtype_code], shape, ints.get(3, 0), ints.get(4, 0), ints.get(5, 0), ints.get(6))


def _shape(message: bytes, where: Path) -> tuple[int, ...]:
    # TensorShapeProto: dim = 2 (Dim: size = 1, name = 2), unknown_rank = 3
    dims: list[int] = []
    for number, field in _fields(message, where):
        if number == 2 and isinstance(field, bytes):
            sizes = [size for n, size in _fields(field, where) if n == 1 and isinstance(size, int)]
            dims.append(sizes[0] if sizes else 0)
        elif number == 3 and field:
            raise CheckpointFormatError(f"{where}: a tensor of unknown rank")
    return tuple(dims)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(data):
            raise CheckpointFormatError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CheckpointFormatError("varint longer than 64 bits")


# ------------------------------------------------------------------------------------------------ crc32c


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of `data`; vectorised over 4-byte words would be faster, this is fast enough here."""
    try:
        import google_crc32c  # optional accelerator, present with some cloud SDKs

        return int(google_crc32c.value(data))
    except ImportError:
        pass
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc32c(data: bytes) -> int:
    # LevelDB/TensorFlow store crc32c masked: rotate right by 15 bits and add a constant
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
