// SPDX-License-Identifier: Apache-2.0
// DMA buffers for a board behind an mmap-ed register window: u-dma-buf (real
// hardware) or a file shared with the `lightloop board --virtual` process.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "lightloop/rtl_bridge/board_backends.h"

namespace lightloop::rtl_bridge {
namespace {

std::string Errno() {
  return std::strerror(errno);
}

// A mapped region carved into buffers in order, page-aligned, never freed.
class RegionAllocator : public IDmaAllocator {
 public:
  RegionAllocator(std::string what, uint8_t* host, uint64_t bus, uint64_t bytes)
      : what_(std::move(what)), host_(host), bus_(bus), bytes_(bytes) {}
  ~RegionAllocator() override { munmap(host_, bytes_); }
  DmaBuffer Alloc(uint64_t bytes) override {
    const uint64_t size = (std::max<uint64_t>(bytes, 1) + 4095) & ~4095ull;
    if (size > bytes_ - used_) {
      throw BoardError(what_ + ": no room for a DMA buffer of " + std::to_string(bytes) + " B (" +
                       std::to_string(bytes_ - used_) + " B left of " + std::to_string(bytes_) + ")");
    }
    DmaBuffer b{host_ + used_, bus_ + used_, size};
    used_ += size;
    return b;
  }

 private:
  std::string what_;
  uint8_t* host_;
  uint64_t bus_;
  uint64_t bytes_;
  uint64_t used_ = 0;
};

uint8_t* MapFile(const std::string& path, uint64_t* bytes, const std::string& what) {
  int fd = open(path.c_str(), O_RDWR | O_SYNC);
  if (fd < 0) throw BoardError(what + ": cannot open " + path + ": " + Errno());
  struct stat st {};
  if (*bytes == 0) {
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
      close(fd);
      throw BoardError(what + ": cannot size " + path);
    }
    *bytes = static_cast<uint64_t>(st.st_size);
  }
  void* p = mmap(nullptr, *bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int err = errno;
  close(fd);
  if (p == MAP_FAILED) throw BoardError(what + ": cannot mmap " + path + ": " + std::strerror(err));
  return static_cast<uint8_t*>(p);
}

uint64_t ReadSysfsNumber(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) throw BoardError(what + ": cannot read " + path);
  try {
    return std::stoull(text, nullptr, 0);
  } catch (const std::exception&) {
    throw BoardError(what + ": " + path + " holds `" + text + "`, not a number");
  }
}

// shm:<file>@<bus base>
std::unique_ptr<IDmaAllocator> OpenShm(const std::string& arg) {
  const size_t at = arg.rfind('@');
  if (at == std::string::npos) throw BoardError("dma=shm:" + arg + ": expected shm:<file>@<bus base>");
  const std::string path = arg.substr(0, at);
  uint64_t base = 0;
  try {
    base = std::stoull(arg.substr(at + 1), nullptr, 0);
  } catch (const std::exception&) {
    throw BoardError("dma=shm:" + arg + ": bus base `" + arg.substr(at + 1) + "` is not a number");
  }
  uint64_t bytes = 0;
  uint8_t* host = MapFile(path, &bytes, "DMA area");
  return std::make_unique<RegionAllocator>("DMA area " + path, host, base, bytes);
}

// udmabuf:<name>: the u-dma-buf kernel module's buffer, physically contiguous.
std::unique_ptr<IDmaAllocator> OpenUdmabuf(const std::string& name) {
  const std::string sys = "/sys/class/u-dma-buf/" + name;
  const std::string what = "u-dma-buf " + name;
  const uint64_t phys = ReadSysfsNumber(sys + "/phys_addr", what);
  uint64_t bytes = ReadSysfsNumber(sys + "/size", what);
  uint8_t* host = MapFile("/dev/" + name, &bytes, what);
  return std::make_unique<RegionAllocator>(what, host, phys, bytes);
}

}  // namespace

std::unique_ptr<IDmaAllocator> OpenDmaAllocator(const std::string& spec) {
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (kind == "shm" && !arg.empty()) return OpenShm(arg);
  if (kind == "udmabuf" && !arg.empty()) return OpenUdmabuf(arg);
  throw BoardError("dma=" + spec +
                   ": unknown DMA allocator (expected udmabuf:<name> or shm:<file>@<bus base>)");
}

}  // namespace lightloop::rtl_bridge
