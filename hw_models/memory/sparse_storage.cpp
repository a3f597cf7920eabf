// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/memory/sparse_storage.h"

#include <algorithm>
#include <cstring>

namespace lightloop::hw_models {
namespace {

// The copies are at most a page, so GCC inlines std::memcpy as `rep movsq`,
// which ran at a third of the speed of glibc's vector memcpy here; calling
// through a volatile pointer keeps the library's.
void* (*volatile copy_bytes)(void*, const void*, size_t) = std::memcpy;

}  // namespace

void SparseStorage::Write(uint64_t address, const unsigned char* data, uint64_t length) {
  while (length > 0) {
    uint64_t chunk = address / kChunk, offset = address % kChunk;
    uint64_t n = std::min(length, kChunk - offset);
    auto& block = chunks_[chunk];
    if (!block) block = std::make_unique<unsigned char[]>(kChunk);  // value-initialized: zeros
    copy_bytes(block.get() + offset, data, n);
    address += n;
    data += n;
    length -= n;
  }
}

void SparseStorage::Read(uint64_t address, unsigned char* data, uint64_t length) const {
  while (length > 0) {
    uint64_t chunk = address / kChunk, offset = address % kChunk;
    uint64_t n = std::min(length, kChunk - offset);
    auto it = chunks_.find(chunk);
    if (it == chunks_.end()) {
      std::memset(data, 0, n);
    } else {
      copy_bytes(data, it->second.get() + offset, n);
    }
    address += n;
    data += n;
    length -= n;
  }
}

}  // namespace lightloop::hw_models
