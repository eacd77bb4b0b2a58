"""The protobuf wire, weights left out: an ONNX file's bytes as the `onnx` package should parse them.

ONNX files are mostly weights. Before the `onnx` package parses a file, the bytes of every
large tensor payload are left out here, so neither the time nor the memory of a parse grows
with the weights: a 100 MB ResNet-50 parses as about 100 kB. Only tag and length prefixes are
read; payloads are skipped by their length. A file is read through `FileBytes`, by positioned
reads of small chunks, not memory-mapped: a kernel that keeps the file in 2 MiB page-cache folios
maps a whole folio into the process on each fault, so touching 300 tensor headers of a mapped
100 MB file counted 55 MB of its pages in the process's resident memory. Fields: ModelProto.graph = 7; GraphProto.initializer = 5, sparse_initializer = 15;
TensorProto's payloads float_data 4, int32_data 5, string_data 6, int64_data 7, raw_data 9,
double_data 10, uint64_data 11.
"""

from __future__ import annotations

import os

MAX_NODES = 1_000_000
KEEP_PAYLOAD = 8192  # bytes: small constants (shapes, clip bounds) stay readable
CHUNK = 65536  # bytes read at a time around a tag; payloads longer than this are never read
_TENSOR_PAYLOADS = {4, 5, 6, 7, 9, 10, 11}
_RAW_PAYLOADS = {4, 9, 10}  # packed float_data, raw_data, packed double_data: little-endian values as they lie in the file


class WireError(Exception):
    pass


class FileBytes:
    """An open file indexed like bytes (`data[i]`, `data[a:b]`, `len(data)`), read a chunk at a time."""

    def __init__(self, fd: int, size: int):
        self._fd = fd
        self._size = size
        self._chunk = b""
        self._chunk_start = 0

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop = index.start, index.stop
            offset = start - self._chunk_start
            if 0 <= offset and stop - self._chunk_start <= len(self._chunk):
                return self._chunk[offset:stop - self._chunk_start]
            return self._read(start, stop - start)
        offset = index - self._chunk_start
        if not 0 <= offset < len(self._chunk):
            if not 0 <= index < self._size:
                raise IndexError(index)
            self._chunk, self._chunk_start = self._read(index, CHUNK), index
            offset = 0
        return self._chunk[offset]

    def _read(self, start: int, length: int) -> bytes:
        data = os.pread(self._fd, length, start)
        if len(data) < min(length, self._size - start):
            raise WireError("the file changed while it was read")
        return data


def _varint(data, pos: int, end: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= end or shift > 63:
            raise WireError("truncated or malformed protobuf")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data, start: int, end: int):
    """(field number, wire type, field start, payload start, field end) for each field in data[start:end]."""
    pos = start
    while pos < end:
        first = pos
        tag, pos = _varint(data, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == 0:
            _, pos = _varint(data, pos, end)
            payload = pos
        elif wire == 1:
            payload, pos = pos, pos + 8
        elif wire == 5:
            payload, pos = pos, pos + 4
        elif wire == 2:
            length, payload = _varint(data, pos, end)
            pos = payload + length
        else:
            raise WireError(f"unsupported wire type {wire}")
        if pos > end:
            raise WireError("truncated protobuf: a field runs past the end")
        yield number, wire, first, payload, pos


def without_weights(data, location: str | None = None) -> bytes:
    """The serialized model with large tensor payloads left out (dims, names and types kept).

    `location`: the file's name; a payload of raw bytes or packed floats left out then points at its
    place in that file as external data does, so that a large constant (a detector's anchors) can be
    read on demand, never a weight."""
    out = bytearray()
    for number, wire, first, payload, end in _fields(data, 0, len(data)):
        if number == 7 and wire == 2:
            graph = _slim_graph(data, payload, end, location)
            out += _tag_and_length(7, len(graph)) + graph
        else:
            out += data[first:end]
    return bytes(out)


def _slim_graph(data, start: int, end: int, location: str | None) -> bytes:
    out = bytearray()
    run = start  # copy untouched fields in runs
    nodes = 0
    for number, wire, first, payload, stop in _fields(data, start, end):
        if number == 1:
            nodes += 1
            if nodes > MAX_NODES:  # before protobuf builds them all
                raise WireError(f"more than {MAX_NODES:,} nodes")
        if number in (5, 15) and wire == 2:
            out += data[run:first]
            tensor = _slim_tensor(data, payload, stop, location) if number == 5 else _slim_sparse(data, payload, stop)
            out += _tag_and_length(number, len(tensor)) + tensor
            run = stop
    out += data[run:end]
    return bytes(out)


def _slim_tensor(data, start: int, end: int, location: str | None = None) -> bytes:
    out = bytearray()
    for number, wire, first, payload, stop in _fields(data, start, end):
        if number in _TENSOR_PAYLOADS and wire == 2 and stop - payload > KEEP_PAYLOAD:
            if location is not None and number in _RAW_PAYLOADS:
                out += _in_place(location, payload, stop - payload)
            continue
        out += data[first:stop]
    return bytes(out)


def _in_place(location: str, offset: int, length: int) -> bytes:
    """TensorProto.external_data (13) {location, offset, length} and data_location (14) = EXTERNAL."""
    out = bytearray()
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = _string_field(1, key) + _string_field(2, value)
        out += _tag_and_length(13, len(entry)) + entry
    return bytes(out) + _encode_varint(14 << 3) + _encode_varint(1)


def _string_field(number: int, text: str) -> bytes:
    encoded = text.encode()
    return _tag_and_length(number, len(encoded)) + encoded


def _slim_sparse(data, start: int, end: int) -> bytes:
    out = bytearray()
    for number, wire, first, payload, stop in _fields(data, start, end):
        if number in (1, 2) and wire == 2:  # values, indices: tensors
            tensor = _slim_tensor(data, payload, stop)
            out += _tag_and_length(number, len(tensor)) + tensor
        else:
            out += data[first:stop]
    return bytes(out)


def _tag_and_length(number: int, length: int) -> bytes:
    return _encode_varint(number << 3 | 2) + _encode_varint(length)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
