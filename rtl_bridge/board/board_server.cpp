// SPDX-License-Identifier: Apache-2.0
// The board process's loop: one register refresh or one host write per board
// cycle, published through the shared register window.
#include "lightloop/rtl_bridge/board/board_server.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <sstream>
#include <thread>

#include "lightloop/rtl_bridge/board_driver.h"
#include "lightloop/rtl_bridge/board_regs.h"

namespace lightloop::rtl_bridge {
namespace {

uint8_t* CreateShared(const std::string& path, uint64_t bytes) {
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    const int err = errno;
    if (fd >= 0) close(fd);
    throw BoardError("board process: cannot create " + path + ": " + std::strerror(err));
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int err = errno;
  close(fd);
  if (p == MAP_FAILED) throw BoardError("board process: cannot mmap " + path + ": " + std::strerror(err));
  return static_cast<uint8_t*>(p);
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

constexpr int kBatch = 1024;  // cycles between checks of the stop flag

}  // namespace

struct BoardServer::Impl {
  explicit Impl(const BoardServerOptions& o) : options(o) {
    if (options.prefix.empty()) options.prefix = "/dev/shm/lightloop-board-" + std::to_string(getpid());
    regs_path = options.prefix + ".regs";
    mem_path = options.prefix + ".mem";
    dma_path = options.prefix + ".dma";
    options.board.mem_file = mem_path;
    try {
      window = reinterpret_cast<uint32_t*>(CreateShared(regs_path, kWindowBytes));
      dma = CreateShared(dma_path, options.dma_bytes);
      board = std::make_unique<VirtualBoard>(options.board);
    } catch (const std::system_error& e) {
      Cleanup();
      throw BoardError(std::string("board process: ") + e.what());
    } catch (...) {
      Cleanup();
      throw;
    }
    board->MapHost(options.dma_bus_base, dma, options.dma_bytes);
    if (!options.trace_fst.empty()) board->StartTrace(options.trace_fst);
    for (const board_regs::RegisterInfo& r : board_regs::kRegisters) {
      const uint32_t v = board->Read32(r.offset);
      window[r.offset / 4] = v;
      shadow[r.offset / 4] = v;
    }
  }

  ~Impl() { Cleanup(); }

  void Cleanup() {
    if (window != nullptr) {
      for (uint64_t i = 0; i < kWindowBytes / 4; ++i) std::atomic_ref<uint32_t>(window[i]).store(0xFFFFFFFFu);
      munmap(window, kWindowBytes);
    }
    board.reset();
    if (dma != nullptr) munmap(dma, options.dma_bytes);
    for (const std::string& p : {regs_path, mem_path, dma_path}) unlink(p.c_str());
  }

  // Publishes a register's value unless the host wrote the word since the
  // last publish; then the host's value is a write to apply.
  void Publish(uint32_t offset, uint32_t value) {
    const uint32_t i = offset / 4;
    uint32_t expected = shadow[i];
    if (std::atomic_ref<uint32_t>(window[i]).compare_exchange_strong(expected, value)) {
      shadow[i] = value;
    } else {
      writes.emplace_back(offset, expected);
      shadow[i] = expected;
    }
  }

  // One batch of cycles: host writes first, else refresh the next register.
  bool Batch() {
    bool host_wrote = false;
    for (int c = 0; c < kBatch; ++c) {
      if (!writes.empty()) {
        board->Write32(writes.front().first, writes.front().second);
        writes.pop_front();
        host_wrote = true;
        continue;
      }
      const board_regs::RegisterInfo& r = board_regs::kRegisters[next];
      next = (next + 1) % board_regs::kRegisters.size();
      Publish(r.offset, board->Read32(r.offset));
    }
    return host_wrote;
  }

  BoardServerOptions options;
  std::string regs_path, mem_path, dma_path;
  uint32_t* window = nullptr;
  uint8_t* dma = nullptr;
  std::unique_ptr<VirtualBoard> board;
  uint32_t shadow[kWindowBytes / 4] = {};
  std::deque<std::pair<uint32_t, uint32_t>> writes;
  size_t next = 0;
};

BoardServer::BoardServer(const BoardServerOptions& options) : impl_(std::make_unique<Impl>(options)) {}
BoardServer::~BoardServer() = default;

std::string BoardServer::spec() const {
  return "pcie:" + impl_->regs_path + ",dma=shm:" + impl_->dma_path + "@" + Hex(impl_->options.dma_bus_base);
}

std::string BoardServer::ReadyLine() const {
  std::ostringstream s;
  s << "board ready regs=" << impl_->regs_path << " mem=" << impl_->mem_path << " dma=" << impl_->dma_path
    << " dma_bus_base=" << Hex(impl_->options.dma_bus_base) << " mem_bytes=" << impl_->options.board.mem_bytes
    << " clock_hz=" << static_cast<uint64_t>(impl_->options.board.clock_hz) << " spec=" << spec();
  return s.str();
}

void BoardServer::Run(const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed)) {
    const bool host_wrote = impl_->Batch();
    if (!host_wrote && !impl_->board->dma_busy() && impl_->options.idle_sleep_us != 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(impl_->options.idle_sleep_us));
    }
  }
}

uint64_t BoardServer::cycles() const {
  return impl_->board->cycles();
}

}  // namespace lightloop::rtl_bridge
