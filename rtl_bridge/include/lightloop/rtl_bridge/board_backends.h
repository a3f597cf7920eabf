// SPDX-License-Identifier: Apache-2.0
// The board driver's backends (IBoardBackend in board_driver.h), for code that
// builds one itself instead of through OpenBoard(spec): tests that reach into
// the virtual board, and the board process.
//   auto backend = std::make_unique<VirtualBackend>(VirtualBoardConfig{});
//   VirtualBoard& rtl = backend->board();        // inject a bit flip, trace
//   BoardDriver driver(std::move(backend));
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lightloop/rtl_bridge/board/virtual_board.h"
#include "lightloop/rtl_bridge/board_driver.h"

namespace lightloop::rtl_bridge {

// Times `config`'s board memory by the hw_models memory in `path` (a file
// with a `memory:` section, as in hw_models/presets/memory/) and sizes it
// as that memory. Throws BoardError naming the file, line and key.
void UseMemoryModel(const std::string& path, VirtualBoardConfig& config);

// The Verilated board in this process, clocked when the driver polls. DMA
// buffers are page-aligned host allocations given bus addresses from
// kVirtualDmaBusBase up.
class VirtualBackend : public IBoardBackend {
 public:
  static constexpr uint64_t kVirtualDmaBusBase = 0x10'0000'0000ull;
  static constexpr uint64_t kBatchCycles = 4096;  // most cycles per Progress()

  explicit VirtualBackend(const VirtualBoardConfig& config);
  ~VirtualBackend() override;
  std::string name() const override { return "virtual board (in-process)"; }
  uint32_t Read32(uint32_t offset) override { return board_.Read32(offset); }
  void Write32(uint32_t offset, uint32_t value) override { board_.Write32(offset, value); }
  DmaBuffer AllocDma(uint64_t bytes) override;
  void Progress() override { board_.RunUntilDmaDone(kBatchCycles); }
  std::string Fault() override { return {}; }
  uint64_t cycles() override { return board_.cycles(); }
  double clock_hz() const override { return board_.clock_hz(); }
  bool virtual_time() const override { return true; }
  VirtualBoard& board() { return board_; }

 private:
  VirtualBoard board_;
  std::vector<DmaBuffer> buffers_;
  uint64_t next_bus_ = kVirtualDmaBusBase;
};

// Where DMA buffers come from for a real board (docs/targets.md):
//   udmabuf:<name>        the u-dma-buf driver's /dev/<name>, its physical
//                         address from /sys/class/u-dma-buf/<name>/phys_addr
//   shm:<file>@<bus base> a file shared with the `lightloop board --virtual`
//                         process, byte 0 at the given bus address
// Buffers are carved from the region in order and never freed.
class IDmaAllocator {
 public:
  virtual ~IDmaAllocator() = default;
  virtual DmaBuffer Alloc(uint64_t bytes) = 0;  // throws BoardError
};
std::unique_ptr<IDmaAllocator> OpenDmaAllocator(const std::string& spec);

// A board behind an mmap-ed register window: a PCIe BAR file (sysfs
// resourceN, or the board process's .regs file) or a UIO device's map 0.
// Throws BoardError naming the path when it cannot be opened or mapped.
std::unique_ptr<IBoardBackend> OpenMmioBackend(const std::string& path, bool uio,
                                               std::unique_ptr<IDmaAllocator> dma);

}  // namespace lightloop::rtl_bridge
