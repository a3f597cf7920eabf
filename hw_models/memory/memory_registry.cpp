// SPDX-License-Identifier: Apache-2.0
// The registry of memory models and the two built-in ones.
#include "lightloop/hw_models/memory/memory_registry.h"

#include <algorithm>
#include <cmath>

#include "lightloop/hw_models/memory/dram_controller.h"
#include "lightloop/hw_models/memory/fixed_latency_memory.h"

namespace lightloop::hw_models {
namespace {

const NumberParam kLatency{"latency_ns", "ns", 90, 0, 1e9, "access latency of the memory"};
const NumberParam kSizeMiB{
    "size_mib", "MiB", 256, 1, 1 << 24, "memory size (storage is real, allocated as touched)", true};

class FixedLatencyTimer : public MemoryTimer {
 public:
  explicit FixedLatencyTimer(double latency_ns)
      : latency_ps_(static_cast<uint64_t>(std::llround(latency_ns * 1e3))) {}
  uint64_t Serve(bool, uint64_t, uint64_t, uint64_t arrival_ps) override { return arrival_ps + latency_ps_; }

 private:
  uint64_t latency_ps_;
};

// The transaction-level DRAM model on a picosecond clock, the CXL port's
// latency on the way in and out. Both fidelities time through it here (the
// command-level engine needs the SystemC controller's queues).
class DramTimer : public MemoryTimer {
 public:
  explicit DramTimer(const DramParams& p)
      : model_(p),
        tck_ps_(p.tck_ns * 1e3),
        port_ps_(static_cast<uint64_t>(std::llround(p.port_latency_ns * 1e3))) {}
  uint64_t Serve(bool write, uint64_t address, uint64_t bytes, uint64_t arrival_ps) override {
    const auto cycle = static_cast<uint64_t>(std::ceil(static_cast<double>(arrival_ps + port_ps_) / tck_ps_));
    const uint64_t done = model_.Serve(write, address, bytes, cycle);
    return static_cast<uint64_t>(std::llround(static_cast<double>(done) * tck_ps_)) + port_ps_;
  }

 private:
  DramTransactionModel model_;
  double tck_ps_;
  uint64_t port_ps_;
};

class FixedLatencySpec : public MemorySpec {
 public:
  explicit FixedLatencySpec(ConfigReader& s)
      : latency_ns_(s.Number(kLatency)), size_(static_cast<uint64_t>(s.Integer(kSizeMiB)) << 20) {}
  uint64_t size() const override { return size_; }
  double IdleLatencyNs(bool, uint64_t) const override { return latency_ns_; }
  double PeakGBps() const override { return 0; }  // no bandwidth limit
  std::unique_ptr<MemoryModel> Build(const char* name) const override {
    return std::make_unique<FixedLatencyMemory>(name, size_, sc_core::sc_time(latency_ns_, sc_core::SC_NS));
  }
  std::unique_ptr<MemoryTimer> Timer() const override {
    return std::make_unique<FixedLatencyTimer>(latency_ns_);
  }

 private:
  double latency_ns_;
  uint64_t size_;
};

class DramSpec : public MemorySpec {
 public:
  explicit DramSpec(ConfigReader& s) : p_(ReadDram(s)) {}
  uint64_t size() const override { return p_.capacity(); }
  double IdleLatencyNs(bool write, uint64_t bytes) const override {
    DramTransactionModel idle(p_);
    return static_cast<double>(idle.Serve(write, 0, bytes, 0)) * p_.tck_ns + 2 * p_.port_latency_ns;
  }
  double PeakGBps() const override { return DramClosedForm(p_).StreamingGBps(); }
  bool blocking() const override { return p_.fidelity == DramFidelity::kCommand; }
  std::unique_ptr<MemoryModel> Build(const char* name) const override {
    return std::make_unique<DramController>(name, p_);
  }
  std::unique_ptr<MemoryTimer> Timer() const override { return std::make_unique<DramTimer>(p_); }

 private:
  DramParams p_;
};

}  // namespace

Registry<MemorySpec>& MemoryRegistry() {
  static Registry<MemorySpec>* r = [] {
    auto* reg = new Registry<MemorySpec>;
    reg->Add("fixed_latency", [](ConfigReader& s) { return std::make_unique<FixedLatencySpec>(s); });
    reg->Add("dram", [](ConfigReader& s) { return std::make_unique<DramSpec>(s); });
    return reg;
  }();
  return *r;
}

bool RegisterMemory(const std::string& impl, MemoryParser parser) {
  return MemoryRegistry().Add(impl, std::move(parser));
}

std::vector<std::string> RegisteredMemories() {
  return MemoryRegistry().Names();
}

std::unique_ptr<MemorySpec> ParseMemory(ConfigReader& section) {
  return MemoryRegistry().Parse(section);
}

}  // namespace lightloop::hw_models
