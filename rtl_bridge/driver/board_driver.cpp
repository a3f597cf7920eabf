// SPDX-License-Identifier: Apache-2.0
// BoardDriver: the descriptor ring and everything built on a backend's MMIO
// and DMA buffers. Same code for every backend.
#include "lightloop/rtl_bridge/board_driver.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <thread>

#include "lightloop/rtl_bridge/board_regs.h"

namespace lightloop::rtl_bridge {
namespace regs = board_regs;
namespace {

constexpr uint32_t kDescBytes = 32;
using Clock = std::chrono::steady_clock;

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

uint64_t* DescWord(const DmaBuffer& ring, uint32_t slot, int word) {
  return reinterpret_cast<uint64_t*>(ring.host + uint64_t{slot} * kDescBytes) + word;
}

}  // namespace

std::string_view DmaStatusName(DmaStatus s) {
  switch (s) {
    case DmaStatus::kPending: return "PENDING";
    case DmaStatus::kOk: return "OK";
    case DmaStatus::kBadLength: return "BAD_LENGTH";
    case DmaStatus::kOutOfRange: return "OUT_OF_RANGE";
    case DmaStatus::kBadAlign: return "BAD_ALIGN";
    case DmaStatus::kBadOp: return "BAD_OP";
    case DmaStatus::kMemError: return "MEM_ERROR";
    case DmaStatus::kHostError: return "HOST_ERROR";
  }
  return "UNKNOWN";
}

BoardDriver::BoardDriver(std::unique_ptr<IBoardBackend> backend, const DriverOptions& options)
    : backend_(std::move(backend)), options_(options), last_progress_(Clock::now()) {
  if (options_.ring_entries < 2 || options_.ring_entries > 65536) {
    throw BoardError("DriverOptions.ring_entries is " + std::to_string(options_.ring_entries) +
                     "; allowed 2..65536");
  }
  if (options_.bounce_bytes < 8 || options_.bounce_bytes % 8 != 0) {
    throw BoardError("DriverOptions.bounce_bytes must be a positive multiple of 8");
  }
  Program();
}

BoardDriver::~BoardDriver() = default;

uint32_t BoardDriver::Read32(uint32_t offset) {
  return backend_->Read32(offset);
}
void BoardDriver::Write32(uint32_t offset, uint32_t value) {
  backend_->Write32(offset, value);
}
DmaBuffer BoardDriver::AllocDma(uint64_t bytes) {
  return backend_->AllocDma(bytes);
}

// Writes a register and polls it until it shows the value: a real board takes
// the write at once; a board behind a polled window may take a while.
void BoardDriver::WriteConfirmed(uint32_t offset, uint32_t value, uint32_t expect, uint32_t mask) {
  backend_->Write32(offset, value);
  WaitRegister(offset, expect, mask, "take " + Hex(value));
}

void BoardDriver::WaitRegister(uint32_t offset, uint32_t expect, uint32_t mask, const std::string& what) {
  const auto start = Clock::now();
  uint32_t got = backend_->Read32(offset);
  while ((got & mask) != expect) {
    if (Clock::now() - start > options_.timeout) {
      throw BoardError("register " + Hex(offset) + " on " + backend_->name() + " does not " + what +
                       " (reads " + Hex(got) + " after " + std::to_string(options_.timeout.count()) + " ms)");
    }
    ThrowIfDead();
    backend_->Progress();
    got = backend_->Read32(offset);
  }
}

void BoardDriver::Program() {
  const std::string dev = backend_->name();
  const uint32_t id = backend_->Read32(regs::kIdOffset);
  if (id != regs::kIdReset) {
    throw BoardError("no lightloop board at " + dev + ": ID reads " + Hex(id) + ", expected " +
                     Hex(regs::kIdReset) + " (\"LLK1\")" + (id == 0xFFFFFFFFu ? "; the device is gone" : ""));
  }
  const uint32_t version = backend_->Read32(regs::kVersionOffset);
  if ((version >> 16) != (regs::kVersionReset >> 16)) {
    throw BoardError(dev + ": register map version " + Hex(version) + ", this driver speaks major " +
                     std::to_string(regs::kVersionReset >> 16));
  }
  mem_bytes_ =
      (uint64_t{backend_->Read32(regs::kMemSizeHiOffset)} << 32) | backend_->Read32(regs::kMemSizeLoOffset);
  max_len_ = backend_->Read32(regs::kDmaMaxLenOffset);
  if (max_len_ < 8) throw BoardError(dev + ": DMA_MAX_LEN reads " + Hex(max_len_));
  options_.bounce_bytes = std::min<uint64_t>(options_.bounce_bytes, max_len_ & ~7u);
  slots_.assign(options_.ring_entries, Slot{});
  ring_ = backend_->AllocDma(uint64_t{options_.ring_entries} * kDescBytes);
  std::memset(ring_.host, 0, ring_.bytes);
  bounce_ = backend_->AllocDma(options_.bounce_bytes);

  // Stop the engine (RING_TAIL goes to 0 once it is idle), then the ring, then
  // start it; settling between the steps keeps them in order on a board that
  // polls its register window.
  WriteConfirmed(regs::kDmaControlOffset, 0, 0, regs::dma_control::kEnableMask);
  WaitRegister(regs::kRingTailOffset, 0, 0xFFFFFFFFu, "reset RING_TAIL to 0 with the engine stopped");
  Settle();
  WriteConfirmed(regs::kRingBaseLoOffset, static_cast<uint32_t>(ring_.bus_addr),
                 static_cast<uint32_t>(ring_.bus_addr), 0xFFFFFFFFu);
  WriteConfirmed(regs::kRingBaseHiOffset, static_cast<uint32_t>(ring_.bus_addr >> 32),
                 static_cast<uint32_t>(ring_.bus_addr >> 32), 0xFFFFFFFFu);
  WriteConfirmed(regs::kRingSizeOffset, options_.ring_entries, options_.ring_entries, 0xFFFFFFFFu);
  WriteConfirmed(regs::kRingHeadOffset, 0, 0, 0xFFFFFFFFu);
  const uint32_t control = backend_->Read32(regs::kControlOffset) | regs::control::kLinkEnableMask;
  WriteConfirmed(regs::kControlOffset, control, control, 0xFFFFFFFFu);
  Settle();
  WriteConfirmed(regs::kDmaControlOffset, regs::dma_control::kEnableMask, regs::dma_control::kEnableMask,
                 0xFFFFFFFFu);
  Settle();
}

// Waits until the board has run kSettleCycles since now: a board that polls
// its register window (the board process) has then seen every earlier write.
void BoardDriver::Settle() {
  const uint64_t start_cycles = backend_->cycles();
  const auto start = Clock::now();
  while (backend_->cycles() - start_cycles < kSettleCycles) {
    if (Clock::now() - start > options_.timeout) {
      throw BoardError(backend_->name() + ": CYCLES did not advance by " + std::to_string(kSettleCycles) +
                       " in " + std::to_string(options_.timeout.count()) + " ms");
    }
    ThrowIfDead();
    backend_->Progress();
  }
}

uint32_t BoardDriver::in_flight() const {
  return (head_ + options_.ring_entries - done_) % options_.ring_entries;
}

std::optional<uint64_t> BoardDriver::Submit(const Descriptor& d) {
  if ((head_ + 1) % options_.ring_entries == done_) return std::nullopt;
  uint64_t* w = DescWord(ring_, head_, 0);
  w[0] = d.host_addr;
  w[1] = d.board_addr;
  w[2] = (uint64_t{static_cast<uint8_t>(d.op)} << 32) | d.length;
  std::atomic_ref<uint64_t>(w[3]).store(0, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);  // the descriptor before the doorbell
  const uint64_t ticket = next_ticket_++;
  slots_[head_] = Slot{ticket, d};
  head_ = (head_ + 1) % options_.ring_entries;
  backend_->Write32(regs::kRingHeadOffset, head_);
  return ticket;
}

size_t BoardDriver::Collect() {
  backend_->Progress();
  size_t n = 0;
  while (done_ != head_) {
    const uint64_t word =
        std::atomic_ref<uint64_t>(*DescWord(ring_, done_, 3)).load(std::memory_order_acquire);
    const auto status = static_cast<DmaStatus>(word & 0xFF);
    if (status == DmaStatus::kPending) break;
    ready_.push_back(Completion{slots_[done_].ticket, status, slots_[done_].desc});
    done_ = (done_ + 1) % options_.ring_entries;
    ++n;
  }
  return n;
}

size_t BoardDriver::Poll(std::vector<Completion>* out) {
  Collect();
  const size_t n = ready_.size();
  out->insert(out->end(), ready_.begin(), ready_.end());
  ready_.clear();
  return n;
}

std::string BoardDriver::Describe(uint64_t ticket, const Descriptor& d) const {
  const bool write = d.op == DmaOp::kWrite;
  return "descriptor " + std::to_string(ticket) + " (" + (write ? "write " : "read ") +
         std::to_string(d.length) + " B, host " + Hex(d.host_addr) + (write ? " -> board " : " <- board ") +
         Hex(d.board_addr) + ") on " + backend_->name();
}

// A board whose cycle counter stands still for stall_limit is dead.
void BoardDriver::ThrowIfDead() {
  if (std::string fault = backend_->Fault(); !fault.empty()) throw BoardError(fault);
  const uint32_t c = backend_->Read32(regs::kCyclesOffset);
  const auto now = Clock::now();
  if (c != last_cycles_) {
    last_cycles_ = c;
    last_progress_ = now;
  } else if (now - last_progress_ > options_.stall_limit) {
    throw BoardError(backend_->name() + " has stopped: CYCLES has read " + std::to_string(c) + " for " +
                     std::to_string(options_.stall_limit.count()) + " ms (board process dead or board hung)");
  }
}

DmaStatus BoardDriver::Wait(uint64_t ticket) {
  const auto start = Clock::now();
  auto next_check = start;
  for (;;) {
    Collect();
    for (auto it = ready_.begin(); it != ready_.end(); ++it) {
      if (it->ticket != ticket) continue;
      const DmaStatus s = it->status;
      ready_.erase(it);
      return s;
    }
    const auto now = Clock::now();
    if (now >= next_check) {
      ThrowIfDead();
      next_check = now + std::chrono::milliseconds(20);
    }
    if (now - start > options_.timeout) {
      std::string what = "ticket " + std::to_string(ticket);
      for (uint32_t i = done_; i != head_; i = (i + 1) % options_.ring_entries) {
        if (slots_[i].ticket == ticket) what = Describe(ticket, slots_[i].desc);
      }
      throw BoardError(what + " not completed after " + std::to_string(options_.timeout.count()) +
                       " ms (RING_TAIL " + std::to_string(backend_->Read32(regs::kRingTailOffset)) +
                       ", DMA_STATUS " + Hex(backend_->Read32(regs::kDmaStatusOffset)) + ")");
    }
  }
}

void BoardDriver::Transfer(DmaOp op, uint64_t board_addr, uint64_t host_bus, uint32_t len) {
  const Descriptor d{op, host_bus, board_addr, len};
  std::optional<uint64_t> ticket = Submit(d);
  while (!ticket) {
    Collect();
    ThrowIfDead();
    ticket = Submit(d);
  }
  const DmaStatus s = Wait(*ticket);
  if (s != DmaStatus::kOk) {
    throw BoardError(Describe(*ticket, d) + " failed: " + std::string(DmaStatusName(s)));
  }
}

void BoardDriver::CheckRange(uint64_t board_addr, uint64_t len) const {
  if (board_addr > mem_bytes_ || len > mem_bytes_ - board_addr) {
    throw BoardError("board range [" + Hex(board_addr) + ", +" + std::to_string(len) +
                     " B) is outside board memory (MEM_SIZE " + Hex(mem_bytes_) + ") on " + backend_->name());
  }
}

void BoardDriver::Write(uint64_t board_addr, const void* src, uint64_t len) {
  CheckRange(board_addr, len);
  const auto* in = static_cast<const uint8_t*>(src);
  const uint64_t end = board_addr + len;
  for (uint64_t a = board_addr; a < end;) {
    const uint64_t a0 = a & ~7ull;
    const uint64_t b = std::min(end, a0 + options_.bounce_bytes);
    const uint64_t b0 = (b + 7) & ~7ull;
    // Partial words at the edges: read them first so the write keeps their other bytes.
    if (a != a0) Transfer(DmaOp::kRead, a0, bounce_.bus_addr, 8);
    if (b != b0 && (b0 - 8 != a0 || a == a0))
      Transfer(DmaOp::kRead, b0 - 8, bounce_.bus_addr + (b0 - 8 - a0), 8);
    std::atomic_thread_fence(std::memory_order_acquire);
    std::memcpy(bounce_.host + (a - a0), in + (a - board_addr), b - a);
    Transfer(DmaOp::kWrite, a0, bounce_.bus_addr, static_cast<uint32_t>(b0 - a0));
    a = b;
  }
}

void BoardDriver::Read(uint64_t board_addr, void* dst, uint64_t len) {
  CheckRange(board_addr, len);
  auto* out = static_cast<uint8_t*>(dst);
  const uint64_t end = board_addr + len;
  for (uint64_t a = board_addr; a < end;) {
    const uint64_t a0 = a & ~7ull;
    const uint64_t b = std::min(end, a0 + options_.bounce_bytes);
    const uint64_t b0 = (b + 7) & ~7ull;
    Transfer(DmaOp::kRead, a0, bounce_.bus_addr, static_cast<uint32_t>(b0 - a0));
    std::atomic_thread_fence(std::memory_order_acquire);
    std::memcpy(out + (a - board_addr), bounce_.host + (a - a0), b - a);
    a = b;
  }
}

uint32_t BoardDriver::irq_status() {
  return backend_->Read32(regs::kIrqStatusOffset);
}
void BoardDriver::AckIrq(uint32_t causes) {
  backend_->Write32(regs::kIrqStatusOffset, causes);
}

}  // namespace lightloop::rtl_bridge
