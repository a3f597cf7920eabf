// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/memory/sparse_storage.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

namespace lightloop::hw_models {

SparseStorage::SparseStorage(uint64_t size) : size_(size) {
  if (size == 0) return;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p != MAP_FAILED) mapped_ = static_cast<unsigned char*>(p);
}

SparseStorage::~SparseStorage() {
  if (mapped_ != nullptr) munmap(mapped_, size_);
}

void SparseStorage::Write(uint64_t address, const unsigned char* data, uint64_t length) {
  if (mapped_ != nullptr) {
    std::memcpy(mapped_ + address, data, length);
    return;
  }
  while (length > 0) {
    uint64_t chunk = address / kChunk, offset = address % kChunk;
    uint64_t n = std::min(length, kChunk - offset);
    auto& block = chunks_[chunk];
    if (!block) block = std::make_unique<unsigned char[]>(kChunk);  // value-initialized: zeros
    std::memcpy(block.get() + offset, data, n);
    address += n;
    data += n;
    length -= n;
  }
}

void SparseStorage::Read(uint64_t address, unsigned char* data, uint64_t length) const {
  if (mapped_ != nullptr) {
    std::memcpy(data, mapped_ + address, length);
    return;
  }
  while (length > 0) {
    uint64_t chunk = address / kChunk, offset = address % kChunk;
    uint64_t n = std::min(length, kChunk - offset);
    auto it = chunks_.find(chunk);
    if (it == chunks_.end()) {
      std::memset(data, 0, n);
    } else {
      std::memcpy(data, it->second.get() + offset, n);
    }
    address += n;
    data += n;
    length -= n;
  }
}

}  // namespace lightloop::hw_models
