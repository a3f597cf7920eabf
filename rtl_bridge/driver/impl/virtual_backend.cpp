// SPDX-License-Identifier: Apache-2.0
// The in-process virtual backend: the Verilated board, DMA buffers from
// page-aligned anonymous memory mapped into the board's host-memory port.
#include <sys/mman.h>

#include "lightloop/rtl_bridge/board_backends.h"

namespace lightloop::rtl_bridge {

VirtualBackend::VirtualBackend(const VirtualBoardConfig& config) : board_(config) {}

VirtualBackend::~VirtualBackend() {
  for (const DmaBuffer& b : buffers_) {
    board_.UnmapHost(b.bus_addr);
    munmap(b.host, b.bytes);
  }
}

DmaBuffer VirtualBackend::AllocDma(uint64_t bytes) {
  const uint64_t size = (std::max<uint64_t>(bytes, 1) + 4095) & ~4095ull;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    throw BoardError(name() + ": cannot allocate a DMA buffer of " + std::to_string(bytes) + " B");
  DmaBuffer b{static_cast<uint8_t*>(p), next_bus_, size};
  board_.MapHost(b.bus_addr, b.host, b.bytes);
  next_bus_ += size + 4096;  // a guard page of bus addresses between buffers
  buffers_.push_back(b);
  return b;
}

}  // namespace lightloop::rtl_bridge
