// SPDX-License-Identifier: Apache-2.0
// The board driver: one interface to a lightloop board, whatever runs it.
// MMIO reads and writes of the registers in lightloop/rtl_bridge/board_regs.h,
// DMA buffers (host memory the board can address), a descriptor ring in one of
// them, non-blocking submit and completion polling, and blocking Write/Read
// conveniences that build the descriptors. The backend is picked by a spec:
//   virtual[,memory=<file>]         the Verilated board in this process; its
//                                   memory timed by a hw_models memory file
//                                   (e.g. hw_models/presets/memory/ddr5_4800.yaml)
//   pcie:<BAR file>[,dma=<alloc>]   mmap of a PCIe BAR (sysfs resource0) or of
//   uio:/dev/uioN[,dma=<alloc>]     a UIO device's map 0
// (docs/targets.md: the bring-up guide, the descriptor format, the DMA
// allocators). A `lightloop board --virtual` process prints the pcie spec of
// its shared-memory window, so the pcie backend runs against it unchanged.
//
//   auto board = OpenBoard("virtual");
//   board->Write(0x1000, src, 4096);   // host -> board memory, blocking
//   board->Read(0x1000, dst, 4096);    // board -> host
//   DmaBuffer buf = board->AllocDma(1 << 20);
//   auto ticket = board->Submit({DmaOp::kWrite, buf.bus_addr, 0, 1 << 20});
//   while (board->Poll(&done) == 0) {}  // non-blocking: one poll, no wait
//
// Threading: a BoardDriver is single-threaded; callers that share one (a
// provider's progress thread and its API threads) serialise calls with their
// own lock. Submit and Poll never block and never throw; construction, the
// blocking calls (Wait, Write, Read) and AllocDma throw BoardError.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lightloop::rtl_bridge {

// A failure naming the device and, where there is one, the descriptor.
class BoardError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class DmaOp : uint8_t { kWrite = 1, kRead = 2 };  // host -> board, board -> host

// Descriptor word 3 [7:0], written back by the board (ll_dma.sv).
enum class DmaStatus : uint8_t {
  kPending = 0,
  kOk = 1,
  kBadLength = 2,
  kOutOfRange = 3,
  kBadAlign = 4,
  kBadOp = 5,
  kMemError = 6,
  kHostError = 7,
};
std::string_view DmaStatusName(DmaStatus status);

// Host memory the board can address: `host` for the CPU, `bus_addr` for
// descriptors. Lives as long as the driver.
struct DmaBuffer {
  uint8_t* host = nullptr;
  uint64_t bus_addr = 0;
  uint64_t bytes = 0;
};

struct Descriptor {
  DmaOp op = DmaOp::kWrite;
  uint64_t host_addr = 0;   // bus address, 8-byte aligned
  uint64_t board_addr = 0;  // 8-byte aligned
  uint32_t length = 0;      // bytes, a multiple of 8, at most max_dma_bytes()
};

struct Completion {
  uint64_t ticket;
  DmaStatus status;
  Descriptor desc;
};

// What a backend provides; BoardDriver builds everything else on it.
class IBoardBackend {
 public:
  virtual ~IBoardBackend() = default;
  // The device, for messages: "virtual board", "pcie /sys/.../resource0".
  virtual std::string name() const = 0;
  virtual uint32_t Read32(uint32_t offset) = 0;
  virtual void Write32(uint32_t offset, uint32_t value) = 0;
  // Throws BoardError when the allocator cannot provide `bytes`.
  virtual DmaBuffer AllocDma(uint64_t bytes) = 0;
  // Lets the board make progress: the virtual board is clocked for a batch of
  // cycles (stopping early at a completion); a real board runs by itself.
  virtual void Progress() = 0;
  // Empty while the board looks alive; else why not (device gone, stopped).
  virtual std::string Fault() = 0;
  // Board cycles so far (virtual: its time; real: the CYCLES register, 32 bits).
  virtual uint64_t cycles() = 0;
  virtual double clock_hz() const = 0;
  // True when the board's cycles are its time (a board clocked only by this
  // process, as the in-process virtual board): time then stands still while
  // the host works. A board that runs by itself keeps wall-clock time.
  virtual bool virtual_time() const { return false; }
};

struct DriverOptions {
  uint32_t ring_entries = 256;               // descriptors in the ring, 2..65536
  uint64_t bounce_bytes = 1ull << 20;        // Write/Read staging buffer (a multiple of 8)
  std::chrono::milliseconds timeout{10000};  // Wait/Write/Read limit (wall clock)
  // A board whose CYCLES register stands still this long is reported dead.
  std::chrono::milliseconds stall_limit{2000};
};

class BoardDriver {
 public:
  // Checks ID and VERSION, stops the engine, programs the ring and enables the
  // link and the engine. Throws BoardError naming the device.
  BoardDriver(std::unique_ptr<IBoardBackend> backend, const DriverOptions& options = {});
  ~BoardDriver();
  BoardDriver(const BoardDriver&) = delete;
  BoardDriver& operator=(const BoardDriver&) = delete;

  uint32_t Read32(uint32_t offset);
  void Write32(uint32_t offset, uint32_t value);
  DmaBuffer AllocDma(uint64_t bytes);

  // Posts one descriptor and rings the doorbell (RING_HEAD). Returns its
  // ticket (tickets count up from 1), or nullopt when the ring is full. The
  // board checks the descriptor; a bad one completes with an error status.
  std::optional<uint64_t> Submit(const Descriptor& d);
  // Lets the board progress once and appends the completions that are ready,
  // in submission order, to `out`; returns how many. Never blocks.
  size_t Poll(std::vector<Completion>* out);
  // Polls until `ticket` completes and returns its status (its completion is
  // consumed: Poll will not report it). Throws BoardError on
  // timeout or a dead board, naming the descriptor and the device.
  DmaStatus Wait(uint64_t ticket);

  // Blocking copies through the bounce buffer, any alignment and length,
  // split into descriptors of at most bounce_bytes. Throw BoardError naming
  // the range (outside board memory) or the failing descriptor.
  void Write(uint64_t board_addr, const void* src, uint64_t len);
  void Read(uint64_t board_addr, void* dst, uint64_t len);

  // Latched interrupt causes (IRQ_STATUS) and their write-1-to-clear.
  uint32_t irq_status();
  void AckIrq(uint32_t causes);

  uint64_t memory_bytes() const { return mem_bytes_; }
  uint32_t max_dma_bytes() const { return max_len_; }
  uint32_t in_flight() const;
  uint64_t cycles() { return backend_->cycles(); }
  double clock_hz() const { return backend_->clock_hz(); }
  bool virtual_time() const { return backend_->virtual_time(); }
  IBoardBackend& backend() { return *backend_; }
  // "descriptor 7 (write 4096 B, host 0x... -> board 0x...) on <device>"
  std::string Describe(uint64_t ticket, const Descriptor& d) const;

 private:
  static constexpr uint64_t kSettleCycles = 4096;
  void Program();
  void Settle();
  void WriteConfirmed(uint32_t offset, uint32_t value, uint32_t expect, uint32_t mask);
  void WaitRegister(uint32_t offset, uint32_t expect, uint32_t mask, const std::string& what);
  void Transfer(DmaOp op, uint64_t board_addr, uint64_t host_bus, uint32_t len);
  void CheckRange(uint64_t board_addr, uint64_t len) const;
  void ThrowIfDead();
  size_t Collect();  // progress once, move finished slots to ready_

  struct Slot {
    uint64_t ticket = 0;
    Descriptor desc;
  };
  std::unique_ptr<IBoardBackend> backend_;
  DriverOptions options_;
  DmaBuffer ring_;
  DmaBuffer bounce_;
  std::vector<Slot> slots_;
  uint32_t head_ = 0;  // next slot to fill
  uint32_t done_ = 0;  // oldest slot not yet completed
  uint64_t next_ticket_ = 1;
  std::deque<Completion> ready_;
  uint64_t mem_bytes_ = 0;
  uint32_t max_len_ = 0;
  uint32_t last_cycles_ = 0;
  std::chrono::steady_clock::time_point last_progress_;
};

// Opens a board from a spec (above). Throws BoardError naming the spec, the
// path or the key that is wrong.
std::unique_ptr<BoardDriver> OpenBoard(const std::string& spec, const DriverOptions& options = {});

// What is wrong with a board spec without opening it: a malformed spec, an
// unknown key, or a file it names (device, memory model) that does not
// exist; empty when OpenBoard may be tried. For callers that must say so
// before a provider opens the board.
std::string BoardSpecProblem(const std::string& spec);

}  // namespace lightloop::rtl_bridge
