// SPDX-License-Identifier: Apache-2.0
// The fpga backend: regions peers can reach live in a board's memory and RMA
// moves their bytes with the board's DMA engine (BoardMemory in
// lightloop_fi.h). Time: on the in-process virtual board, the cycles each DMA
// took at the board clock; on a board that runs by itself, the wall clock.
#include <rdma/providers/fi_log.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "lightloop/rtl_bridge/board_driver.h"
#include "lightloop_fi.h"

namespace lightloop::fi {
namespace {

bool AllZero(const uint8_t* p, uint64_t n) {
  return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0);
}

uint64_t RoundUp(uint64_t n, uint64_t to) {
  return (n + to - 1) / to * to;
}

}  // namespace

BoardMemory::BoardMemory(const std::string& spec) : spec_(spec) {
  try {
    driver_ = rtl_bridge::OpenBoard(spec);
  } catch (const std::exception& e) {
    throw rtl_bridge::BoardError("board `" + spec + "` (FI_LIGHTLOOP_BOARD): " + e.what());
  }
  dirty_.assign(RoundUp(driver_->memory_bytes(), kPage) / kPage, false);
  FI_INFO(&gProvider, FI_LOG_FABRIC, "fpga backend on board %s: %llu bytes of memory, %.0f Hz\n",
          spec.c_str(), static_cast<unsigned long long>(driver_->memory_bytes()), driver_->clock_hz());
}

BoardMemory::~BoardMemory() = default;

uint64_t BoardMemory::bytes() const {
  return driver_->memory_bytes();
}

double BoardMemory::clock_hz() const {
  return driver_->clock_hz();
}

bool BoardMemory::virtual_time() const {
  return driver_->virtual_time();
}

// First fit among the ranges in use; past the end of board memory if it
// must (the region registers, its accesses beyond the memory are refused).
uint64_t BoardMemory::Place(uint64_t len) {
  const uint64_t need = RoundUp(std::max<uint64_t>(len, 1), kPage);
  uint64_t at = 0;
  for (const auto& [base, n] : used_) {
    if (base - at >= need) break;
    at = base + n;
  }
  used_[at] = need;
  return at;
}

// Board := host for the region's pages, skipping pages that are zero on both.
void BoardMemory::Attach(Mr* mr) {
  mr->on_board = true;
  mr->board_base = Place(mr->len);
  const uint64_t in_board = mr->board_base >= bytes() ? 0 : std::min(mr->len, bytes() - mr->board_base);
  uint64_t ps = 0;
  for (uint64_t off = 0; off < in_board; off += kPage) {
    const uint64_t n = std::min(kPage, in_board - off);
    const uint64_t page = (mr->board_base + off) / kPage;
    const bool zero = AllZero(mr->base + off, n);
    if (zero && !dirty_[page]) continue;
    const bool was_dirty = dirty_[page];
    if (!Write(mr->board_base + off, mr->base + off, n, &ps)) return;
    dirty_[page] = !zero || (n < kPage && was_dirty);
  }
}

// Host := board for the pages the board may have written; frees the range.
void BoardMemory::Detach(Mr* mr) {
  if (!mr->on_board) return;
  const uint64_t in_board = mr->board_base >= bytes() ? 0 : std::min(mr->len, bytes() - mr->board_base);
  uint64_t ps = 0;
  for (uint64_t off = 0; off < in_board; off += kPage) {
    const uint64_t n = std::min(kPage, in_board - off);
    if (dirty_[(mr->board_base + off) / kPage] && !Read(mr->board_base + off, mr->base + off, n, &ps)) break;
  }
  used_.erase(mr->board_base);
  mr->on_board = false;
}

bool BoardMemory::InRange(const Mr& mr, uint64_t offset, uint64_t len) const {
  const uint64_t addr = mr.board_base + offset;
  return addr <= bytes() && len <= bytes() - addr;
}

uint64_t BoardMemory::PsOf(uint64_t cycles) const {
  if (!driver_->virtual_time()) return 0;  // the DMA took its wall time; nothing to add
  return static_cast<uint64_t>(std::llround(static_cast<double>(cycles) * 1e12 / driver_->clock_hz()));
}

bool BoardMemory::Write(uint64_t board_addr, const uint8_t* src, uint64_t len, uint64_t* ps) {
  *ps = 0;
  if (len == 0) return true;
  try {
    const uint64_t c0 = driver_->cycles();
    driver_->Write(board_addr, src, len);
    *ps = PsOf(driver_->cycles() - c0);
  } catch (const std::exception& e) {
    FI_WARN(&gProvider, FI_LOG_EP_DATA, "board %s: %s\n", spec_.c_str(), e.what());
    return false;
  }
  for (uint64_t p = board_addr / kPage; p <= (board_addr + len - 1) / kPage; ++p) dirty_[p] = true;
  return true;
}

bool BoardMemory::Read(uint64_t board_addr, uint8_t* dst, uint64_t len, uint64_t* ps) {
  *ps = 0;
  if (len == 0) return true;
  try {
    const uint64_t c0 = driver_->cycles();
    driver_->Read(board_addr, dst, len);
    *ps = PsOf(driver_->cycles() - c0);
  } catch (const std::exception& e) {
    FI_WARN(&gProvider, FI_LOG_EP_DATA, "board %s: %s\n", spec_.c_str(), e.what());
    return false;
  }
  return true;
}

}  // namespace lightloop::fi
