// SPDX-License-Identifier: Apache-2.0
// Real backing store for memory models: a 64 GiB memory costs only what the
// traffic touches, and bytes never written read as zero. The store is one
// anonymous mapping reserved without commitment (MAP_NORESERVE), whose pages
// the kernel provides when first written, so a transfer is one memcpy; where
// the kernel refuses such a mapping, 4 KiB chunks allocated as written.
//
//   SparseStorage mem(64ull << 30);
//   mem.Write(addr, src, len);
//   mem.Read(addr, dst, len);
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>

namespace lightloop::hw_models {

class SparseStorage {
 public:
  explicit SparseStorage(uint64_t size);
  ~SparseStorage();
  SparseStorage(const SparseStorage&) = delete;
  SparseStorage& operator=(const SparseStorage&) = delete;
  uint64_t size() const { return size_; }
  // [address, address + length) lies inside the storage.
  bool Contains(uint64_t address, uint64_t length) const {
    return address <= size_ && length <= size_ - address;
  }
  // Both require Contains(address, length).
  void Write(uint64_t address, const unsigned char* data, uint64_t length);
  void Read(uint64_t address, unsigned char* data, uint64_t length) const;

 private:
  static constexpr uint64_t kChunk = 4096;
  uint64_t size_;
  unsigned char* mapped_ = nullptr;  // the whole store, or null: chunks_
  std::unordered_map<uint64_t, std::unique_ptr<unsigned char[]>> chunks_;
};

}  // namespace lightloop::hw_models
