// SPDX-License-Identifier: Apache-2.0
// A board behind an mmap-ed register window: a PCIe BAR through sysfs
// (/sys/bus/pci/devices/<bdf>/resource0), a UIO device's map 0 (/dev/uioN),
// or, in CI, the register-window file of a `lightloop board --virtual`
// process, which stands in for resource0 and acts on what is written there.
// Register accesses are single 32-bit volatile loads and stores, as a BAR needs.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "lightloop/rtl_bridge/board_backends.h"
#include "lightloop/rtl_bridge/board_regs.h"

namespace lightloop::rtl_bridge {
namespace {

uint64_t UioMapSize(const std::string& dev) {
  const std::string name = dev.substr(dev.rfind('/') + 1);
  const std::string path = "/sys/class/uio/" + name + "/maps/map0/size";
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) throw BoardError("UIO device " + dev + ": cannot read " + path);
  return std::stoull(text, nullptr, 0);
}

class MmioBackend : public IBoardBackend {
 public:
  MmioBackend(const std::string& path, bool uio, std::unique_ptr<IDmaAllocator> dma)
      : path_(path), name_(std::string(uio ? "uio " : "pcie ") + path), dma_(std::move(dma)) {
    const int fd = open(path.c_str(), O_RDWR | O_SYNC);
    if (fd < 0) throw BoardError(name_ + ": cannot open the register window: " + std::strerror(errno));
    struct stat st {};
    bytes_ = uio ? UioMapSize(path) : (fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0);
    if (bytes_ < 0x1000) {
      close(fd);
      throw BoardError(name_ + ": the register window is " + std::to_string(bytes_) +
                       " B; the register map needs 4096");
    }
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    const int err = errno;
    close(fd);
    if (p == MAP_FAILED) throw BoardError(name_ + ": cannot mmap the register window: " + std::strerror(err));
    regs_ = static_cast<volatile uint32_t*>(p);
  }
  ~MmioBackend() override { munmap(const_cast<uint32_t*>(regs_), bytes_); }

  std::string name() const override { return name_; }
  uint32_t Read32(uint32_t offset) override {
    return offset + 4 <= bytes_ && offset % 4 == 0 ? regs_[offset / 4] : 0xFFFFFFFFu;
  }
  void Write32(uint32_t offset, uint32_t value) override {
    if (offset + 4 <= bytes_ && offset % 4 == 0) regs_[offset / 4] = value;
  }
  DmaBuffer AllocDma(uint64_t bytes) override {
    if (!dma_) {
      throw BoardError(
          name_ + ": no DMA allocator; add ,dma=udmabuf:<name> or ,dma=shm:<file>@<bus base> to the spec");
    }
    return dma_->Alloc(bytes);
  }
  void Progress() override { std::this_thread::yield(); }  // the board runs by itself
  std::string Fault() override {
    struct stat st {};
    if (stat(path_.c_str(), &st) != 0) return name_ + ": the register window is gone (board process exited?)";
    if (Read32(board_regs::kIdOffset) == 0xFFFFFFFFu)
      return name_ + ": the device is gone (ID reads 0xffffffff)";
    return {};
  }
  uint64_t cycles() override {
    const uint32_t now = Read32(board_regs::kCyclesOffset);
    cycles_ += static_cast<uint32_t>(now - last_);
    last_ = now;
    return cycles_;
  }
  double clock_hz() const override { return 250e6; }

 private:
  std::string path_;
  std::string name_;
  std::unique_ptr<IDmaAllocator> dma_;
  volatile uint32_t* regs_ = nullptr;
  uint64_t bytes_ = 0;
  uint64_t cycles_ = 0;
  uint32_t last_ = 0;
};

}  // namespace

std::unique_ptr<IBoardBackend> OpenMmioBackend(const std::string& path, bool uio,
                                               std::unique_ptr<IDmaAllocator> dma) {
  return std::make_unique<MmioBackend>(path, uio, std::move(dma));
}

}  // namespace lightloop::rtl_bridge
