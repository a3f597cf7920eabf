// SPDX-License-Identifier: Apache-2.0
// The one class that touches the ports of Vll_board: the MMIO bus, the
// host-memory port and the AXI-like board-memory port, served every cycle.
#include "lightloop/rtl_bridge/board/virtual_board.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <stdexcept>
#include <system_error>

#include "Vll_board.h"
#include "lightloop/hw_models/memory/memory_registry.h"
#include "verilated.h"
#include "verilated_fst_c.h"

namespace lightloop::rtl_bridge {
namespace {

void CheckRange(const char* key, uint64_t value, uint64_t lo, uint64_t hi) {
  if (value < lo || value > hi) {
    throw std::invalid_argument("VirtualBoardConfig." + std::string(key) + " is " + std::to_string(value) +
                                "; allowed " + std::to_string(lo) + ".." + std::to_string(hi));
  }
}

// Board memory: anonymous or a shared file, untouched pages never allocated.
class BoardMemory {
 public:
  BoardMemory(uint64_t bytes, const std::string& file) : bytes_(bytes) {
    int fd = -1;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    if (!file.empty()) {
      fd = open(file.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
      if (fd < 0 || ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
        if (fd >= 0) close(fd);
        throw std::system_error(errno, std::generic_category(), "board memory file " + file);
      }
      flags = MAP_SHARED | MAP_NORESERVE;
    }
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (fd >= 0) close(fd);
    if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap board memory");
    data_ = static_cast<uint8_t*>(p);
  }
  ~BoardMemory() { munmap(data_, bytes_); }
  uint8_t* data() { return data_; }
  uint64_t bytes() const { return bytes_; }
  bool Contains(uint64_t addr, uint64_t len) const { return addr <= bytes_ && len <= bytes_ - addr; }

 private:
  uint8_t* data_;
  uint64_t bytes_;
};

struct HostRegion {
  uint64_t bus;
  uint64_t bytes;
  uint8_t* host;
};

constexpr size_t kReadBursts = 4;

struct ReadBurst {
  uint64_t addr;
  uint32_t beats;
  uint64_t due;
  bool err;
};

struct PendingRead {
  uint64_t due;
  uint64_t addr;
};

}  // namespace

void ValidateVirtualBoardConfig(const VirtualBoardConfig& c) {
  ValidateLinkConfig(c.link);
  if (c.link.rev_err_threshold != 0) {
    throw std::invalid_argument(
        "VirtualBoardConfig.link.rev_err_threshold must be 0 (error-free control lanes)");
  }
  CheckRange("mem_bytes", c.mem_bytes, 8, 1ull << 40);
  if (c.mem_bytes % 8 != 0)
    throw std::invalid_argument("VirtualBoardConfig.mem_bytes must be a multiple of 8");
  CheckRange("host_latency", c.host_latency, 1, 4096);
  CheckRange("mem_latency", c.mem_latency, 0, 4096);
  if (!(c.clock_hz > 0)) throw std::invalid_argument("VirtualBoardConfig.clock_hz must be positive");
}

struct VirtualBoard::Impl {
  explicit Impl(const VirtualBoardConfig& c)
      : config(c), ctx(std::make_unique<VerilatedContext>()), mem(c.mem_bytes, c.mem_file) {
    ctx->traceEverOn(true);
    m = std::make_unique<Vll_board>(ctx.get(), "board");
    ApplyLinkConfig(*m, c.link);
    m->mem_size = c.mem_bytes;
    m->hm_rd_ready = 1;
    m->hm_wr_ready = 1;
    m->m_bresp = 0;
    m->rst = 1;
    Tick();
    Tick();
    m->rst = 0;
  }
  ~Impl() {
    m->final();
    if (fst) fst->close();
  }

  void Tick() {
    m->clk = 0;
    m->eval();
    if (fst) fst->dump(2 * cycle);
    m->clk = 1;
    m->eval();
    if (fst) fst->dump(2 * cycle + 1);
  }

  HostRegion* FindHost(uint64_t addr) {
    if (last_region != nullptr && addr - last_region->bus < last_region->bytes) return last_region;
    auto it = regions.upper_bound(addr);
    if (it == regions.begin()) return nullptr;
    --it;
    if (addr - it->second.bus >= it->second.bytes) return nullptr;
    last_region = &it->second;
    return last_region;
  }

  // Host-memory port: reads answered host_latency cycles later, in order;
  // posted writes land at once.
  void ServeHost() {
    if (m->hm_rd_valid) reads.push_back({cycle + config.host_latency, m->hm_rd_addr});
    if (!reads.empty() && reads.front().due <= cycle) {
      const uint64_t addr = reads.front().addr;
      reads.pop_front();
      HostRegion* r = FindHost(addr);
      uint64_t v = 0;
      if (r != nullptr && addr - r->bus + 8 <= r->bytes) {
        std::memcpy(&v, r->host + (addr - r->bus), 8);
        m->hm_rsp_err = 0;
      } else {
        ++host_read_faults;
        m->hm_rsp_err = 1;
      }
      m->hm_rsp_valid = 1;
      m->hm_rsp_data = v;
    } else {
      m->hm_rsp_valid = 0;
    }
    if (m->hm_wr_valid) {
      const uint64_t addr = m->hm_wr_addr;
      const uint64_t v = m->hm_wr_data;
      HostRegion* r = FindHost(addr);
      if (r != nullptr && addr - r->bus + 8 <= r->bytes) {
        std::memcpy(r->host + (addr - r->bus), &v, 8);
        std::atomic_thread_fence(std::memory_order_release);  // data before the status word
      } else {
        ++host_write_faults;
      }
    }
  }

  // AXI-like slave: one write burst at a time (the next address is taken with
  // the last beat, so bursts follow back to back) and up to kReadBursts read
  // bursts in flight, each answered mem_latency cycles after its address; a
  // burst outside board memory is answered SLVERR without touching it.
  void ServeAxi() {
    const bool b = !b_due.empty() && b_due.front().due <= cycle;
    m->m_bvalid = b;
    if (b) {
      m->m_bresp = b_due.front().err ? 2 : 0;
      b_due.pop_front();
    }
    m->m_wready = w_active;
    if (w_active && m->m_wvalid) {
      if (!w_err) {
        const uint64_t v = m->m_wdata;
        std::memcpy(mem.data() + w_addr, &v, 8);
      }
      w_addr += 8;
      if (m->m_wlast) {
        w_active = false;
        const uint64_t bytes = w_addr - w_start;
        b_due.push_back({w_err ? cycle + 1 : MemoryDone(true, w_start, bytes, cycle + 1), w_err});
      }
    }
    m->m_awready = !w_active;
    if (m->m_awvalid && m->m_awready) {
      w_active = true;
      w_addr = w_start = m->m_awaddr;
      w_err = !mem.Contains(w_addr, (uint64_t{m->m_awlen} + 1) * 8);
    }
    ServeRead();
  }

  // The cycle an access is done: `earliest` with the fixed latency, or when
  // the hw_models memory says (never before `earliest`).
  uint64_t MemoryDone(bool write, uint64_t addr, uint64_t bytes, uint64_t earliest) {
    if (!config.memory_timer) return earliest;
    const double ps_per_cycle = 1e12 / config.clock_hz;
    const auto arrival_ps = static_cast<uint64_t>(static_cast<double>(cycle) * ps_per_cycle);
    const uint64_t done_ps = config.memory_timer->Serve(write, addr, bytes, arrival_ps);
    const auto done = static_cast<uint64_t>(std::ceil(static_cast<double>(done_ps) / ps_per_cycle));
    return std::max(earliest, done);
  }

  void ServeRead() {
    ReadBurst* r = bursts.empty() ? nullptr : &bursts.front();
    const bool beat = r != nullptr && cycle >= r->due;
    m->m_rvalid = beat;
    if (beat) {
      uint64_t v = 0;
      if (!r->err) std::memcpy(&v, mem.data() + r->addr, 8);
      m->m_rdata = v;
      m->m_rresp = r->err ? 2 : 0;
      if (m->m_rready) {
        r->addr += 8;
        if (--r->beats == 0) bursts.pop_front();
      }
    }
    m->m_arready = bursts.size() < kReadBursts;
    if (m->m_arvalid && m->m_arready) {
      const uint64_t addr = m->m_araddr;
      const uint32_t beats = uint32_t{m->m_arlen} + 1;
      const bool err = !mem.Contains(addr, uint64_t{beats} * 8);
      const uint64_t due = config.memory_timer && !err
                               ? MemoryDone(false, addr, uint64_t{beats} * 8, cycle + 1)
                               : cycle + 1 + config.mem_latency;
      bursts.push_back({addr, beats, due, err});
    }
  }

  void Cycle() {
    ServeHost();
    ServeAxi();
    const uint32_t errors = m->dbg_errors_injected;
    Tick();
    if (m->force_flip && m->dbg_errors_injected != errors) m->force_flip = 0;
    if (m->dbg_dma_done) ++dma_done;
    ++cycle;
  }

  uint32_t Access(bool write, uint32_t offset, uint32_t value) {
    m->req_valid = 1;
    m->req_write = write;
    m->req_addr = offset;
    m->req_wdata = value;
    Cycle();
    m->req_valid = 0;
    return m->rsp_rdata;
  }

  VirtualBoardConfig config;
  std::unique_ptr<VerilatedContext> ctx;
  std::unique_ptr<Vll_board> m;
  std::unique_ptr<VerilatedFstC> fst;
  BoardMemory mem;
  std::map<uint64_t, HostRegion> regions;
  HostRegion* last_region = nullptr;
  std::deque<PendingRead> reads;
  uint64_t cycle = 0;
  uint64_t host_read_faults = 0, host_write_faults = 0, dma_done = 0;
  bool w_active = false, w_err = false;
  uint64_t w_addr = 0, w_start = 0;
  struct WriteResponse {
    uint64_t due;
    bool err;
  };
  std::deque<WriteResponse> b_due;  // write bursts done, responses not yet given
  std::deque<ReadBurst> bursts;
};

VirtualBoard::VirtualBoard(const VirtualBoardConfig& config) {
  ValidateVirtualBoardConfig(config);
  impl_ = std::make_unique<Impl>(config);
}
VirtualBoard::~VirtualBoard() = default;

uint32_t VirtualBoard::Read32(uint32_t offset) {
  return impl_->Access(false, offset, 0);
}
void VirtualBoard::Write32(uint32_t offset, uint32_t value) {
  impl_->Access(true, offset, value);
}

void VirtualBoard::MapHost(uint64_t bus_addr, void* host, uint64_t bytes) {
  auto& regions = impl_->regions;
  auto next = regions.lower_bound(bus_addr);
  const bool overlaps_next = next != regions.end() && next->first < bus_addr + bytes;
  const bool overlaps_prev =
      next != regions.begin() && std::prev(next)->second.bus + std::prev(next)->second.bytes > bus_addr;
  if (bytes == 0 || overlaps_next || overlaps_prev) {
    throw std::invalid_argument("VirtualBoard::MapHost: bus range overlaps a mapped region or is empty");
  }
  regions[bus_addr] = HostRegion{bus_addr, bytes, static_cast<uint8_t*>(host)};
  impl_->last_region = nullptr;
}

void VirtualBoard::UnmapHost(uint64_t bus_addr) {
  impl_->regions.erase(bus_addr);
  impl_->last_region = nullptr;
}

void VirtualBoard::Run(uint64_t cycles) {
  for (uint64_t i = 0; i < cycles; ++i) impl_->Cycle();
}

bool VirtualBoard::RunUntilDmaDone(uint64_t max_cycles) {
  const uint64_t done = impl_->dma_done;
  for (uint64_t i = 0; i < max_cycles; ++i) {
    impl_->Cycle();
    if (impl_->dma_done != done) return true;
  }
  return false;
}

void VirtualBoard::FlipBitOfNextFlit(unsigned bit) {
  impl_->m->force_bit = bit;
  impl_->m->force_flip = 1;  // held until the lane has flipped a flit
}

void VirtualBoard::StartTrace(const std::string& fst_path) {
  if (impl_->fst) return;
  impl_->fst = std::make_unique<VerilatedFstC>();
  impl_->m->trace(impl_->fst.get(), 99);
  impl_->fst->open(fst_path.c_str());
}

uint8_t* VirtualBoard::memory() {
  return impl_->mem.data();
}
uint64_t VirtualBoard::memory_bytes() const {
  return impl_->mem.bytes();
}
uint64_t VirtualBoard::cycles() const {
  return impl_->cycle;
}
double VirtualBoard::clock_hz() const {
  return impl_->config.clock_hz;
}
bool VirtualBoard::irq() const {
  return impl_->m->irq;
}
bool VirtualBoard::dma_busy() const {
  return impl_->m->dbg_dma_busy;
}

VirtualBoardDebug VirtualBoard::debug() const {
  const Vll_board& m = *impl_->m;
  return VirtualBoardDebug{.errors_injected = m.dbg_errors_injected,
                           .naks_sent = m.dbg_naks_sent,
                           .host_read_faults = impl_->host_read_faults,
                           .host_write_faults = impl_->host_write_faults,
                           .dma_done = impl_->dma_done};
}

}  // namespace lightloop::rtl_bridge
