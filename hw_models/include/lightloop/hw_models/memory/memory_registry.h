// SPDX-License-Identifier: Apache-2.0
// Memory models by name: the `impl:` of a `memory:` section picks a parser,
// which validates the section (errors name file, line and key) and returns a
// MemorySpec; the node builds the module from the spec at elaboration. The
// built-in models are `fixed_latency` and `dram`. A partner's own TLM-2.0
// module joins by registering a parser, and is then chosen by configuration
// alone:
//
//   class MyMemory : public sc_core::sc_module, public MemoryModel { ... };
//   struct MySpec : MemorySpec { ... Build() returns std::make_unique<MyMemory>(...) };
//   LIGHTLOOP_REGISTER_MEMORY("my_memory", [](ConfigReader& s) { return std::make_unique<MySpec>(s); });
//
// Registration runs in a static initializer: put the module in the
// program's own sources or in an OBJECT library (a plain static library
// drops object files that nothing references). See docs/extending.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <systemc>
#include <tlm>
#include <vector>

#include "lightloop/hw_models/config/config_reader.h"
#include "lightloop/hw_models/config/registry.h"

namespace lightloop::hw_models {

// A memory module as the node sees it: a TLM-2.0 target and its counters.
class MemoryModel {
 public:
  virtual ~MemoryModel() = default;
  virtual tlm::tlm_target_socket<>& socket() = 0;
  // Energy of the run so far; `elapsed` is the simulated time.
  virtual double joules(sc_core::sc_time elapsed) const { return 0 * elapsed.to_seconds(); }
  // Row-buffer hits per burst, for models with rows.
  virtual std::optional<double> row_buffer_hit_rate() const { return std::nullopt; }
};

// A memory's timing without SystemC, for hosts that run on their own clock
// (the fpga target's virtual board serves its AXI port with it). Arrivals
// need not be ordered; state (open rows, busy buses, refresh) carries over.
//   std::unique_ptr<MemoryTimer> t = spec->Timer();
//   uint64_t done_ps = t->Serve(/*write=*/false, address, 512, arrival_ps);
class MemoryTimer {
 public:
  virtual ~MemoryTimer() = default;
  // When the last byte of an access of `bytes` at `address`, arriving at
  // `arrival_ps`, has been read or written.
  virtual uint64_t Serve(bool write, uint64_t address, uint64_t bytes, uint64_t arrival_ps) = 0;
};

// A validated `memory:` section.
class MemorySpec {
 public:
  virtual ~MemorySpec() = default;
  virtual uint64_t size() const = 0;
  // For the closed form: an idle access of `bytes`, and saturated bandwidth.
  virtual double IdleLatencyNs(bool write, uint64_t bytes) const = 0;
  virtual double PeakGBps() const = 0;
  // True when the model waits inside b_transport (synchronising): the node
  // then drives it with a thread per outstanding transfer.
  virtual bool blocking() const { return false; }
  // Creates the module; an sc_module, so only during elaboration.
  virtual std::unique_ptr<MemoryModel> Build(const char* name) const = 0;
  // The same memory's timing outside SystemC; null for a model without one.
  virtual std::unique_ptr<MemoryTimer> Timer() const { return nullptr; }
};

using MemoryParser = Registry<MemorySpec>::Parser;
Registry<MemorySpec>& MemoryRegistry();

// Adds (or replaces) the parser for `impl`.
bool RegisterMemory(const std::string& impl, MemoryParser parser);
std::vector<std::string> RegisteredMemories();
// Reads `impl` (one of the registered names) and the rest of the section;
// calls Finish(). Throws ConfigError.
std::unique_ptr<MemorySpec> ParseMemory(ConfigReader& section);

#define LIGHTLOOP_REGISTER_MEMORY_CAT2(a, b) a##b
#define LIGHTLOOP_REGISTER_MEMORY_CAT(a, b) LIGHTLOOP_REGISTER_MEMORY_CAT2(a, b)
#define LIGHTLOOP_REGISTER_MEMORY(impl, parser)                                                              \
  [[maybe_unused]] static const bool LIGHTLOOP_REGISTER_MEMORY_CAT(lightloop_memory_registered_, __LINE__) = \
      ::lightloop::hw_models::RegisterMemory(impl, parser)

}  // namespace lightloop::hw_models
