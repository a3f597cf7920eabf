// SPDX-License-Identifier: Apache-2.0
#include "lightloop/testbench/model_bench.h"

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <iomanip>
#include <memory>
#include <sstream>
#include <systemc>
#include <tlm>
#include <vector>

#include "lightloop/hw_models/link/photonic_link_module.h"
#include "lightloop/hw_models/memory/dram_controller.h"
#include "lightloop/hw_models/memory/fixed_latency_memory.h"

namespace lightloop::testbench {
namespace hw = lightloop::hw_models;
using sc_core::SC_NS;
using sc_core::sc_time;
using WallClock = std::chrono::steady_clock;

namespace {

// Issues `count` transactions of `size` bytes with `depth` outstanding in
// annotated time; records the wall time and the last completion.
struct Driver : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Driver> socket{"socket"};
  uint64_t count = 0;
  uint32_t size = 64;
  size_t depth = 16;
  double wall_s = 0;
  sc_time last;
  std::vector<unsigned char> buf;

  SC_HAS_PROCESS(Driver);
  explicit Driver(sc_core::sc_module_name name) : sc_module(name) { SC_THREAD(Run); }

  void Run() {
    buf.assign(size, 1);
    tlm::tlm_generic_payload trans;
    trans.set_command(tlm::TLM_WRITE_COMMAND);
    trans.set_data_ptr(buf.data());
    trans.set_data_length(size);
    trans.set_streaming_width(size);
    std::deque<sc_time> inflight;
    sc_time issue = sc_core::SC_ZERO_TIME;
    auto start = WallClock::now();
    for (uint64_t i = 0; i < count; ++i) {
      if (inflight.size() == depth) {
        if (inflight.front() > issue) issue = inflight.front();
        inflight.pop_front();
      }
      trans.set_address((i % 1024) * size);
      trans.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
      sc_time delay = issue;
      socket->b_transport(trans, delay);
      inflight.push_back(delay);
    }
    wall_s = std::chrono::duration<double>(WallClock::now() - start).count();
    last = inflight.empty() ? sc_core::SC_ZERO_TIME : inflight.back();
  }
};

// The baseline's target: annotates a delay and nothing else.
struct NullTarget : sc_core::sc_module {
  tlm_utils::simple_target_socket<NullTarget> socket{"socket"};
  explicit NullTarget(sc_core::sc_module_name name) : sc_module(name) {
    socket.register_b_transport(this, &NullTarget::Transport);
  }
  void Transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
    delay += sc_time(10, SC_NS);
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
  }
};

// GB per second copying 64 KiB pieces the way the stream's memory stores
// them: 1024 slots of 64 KiB, a 64 MiB span.
double MemcpyGbPerS(uint64_t bytes) {
  std::vector<unsigned char> src(65536, 1), dst(64ull << 20, 0);
  uint64_t pieces = std::max<uint64_t>(1, std::min<uint64_t>(bytes, 4ull << 30) / 65536);
  auto start = WallClock::now();
  for (uint64_t i = 0; i < pieces; ++i) std::memcpy(dst.data() + (i % 1024) * 65536, src.data(), 65536);
  double s = std::chrono::duration<double>(WallClock::now() - start).count();
  volatile unsigned char sink = dst[12345];
  (void)sink;
  return static_cast<double>(pieces) * 65536 / 1e9 / s;
}

hw::PhotonicLinkParams BenchLink() {
  hw::PhotonicLinkParams p;  // the defaults: 16 x 32 Gb/s NRZ, optical I/O class
  p.fibre_m = 2;
  return p;
}

}  // namespace

runtime::StatusOr<ModelBenchReport> RunModelBench(const ModelBenchOptions& o) {
  if (o.small_transactions == 0 || o.stream_bytes < 65536) {
    return runtime::InvalidArgument("--transactions must be at least 1 and --stream-bytes at least 64KiB");
  }
  // Independent chains in one elaboration: the baseline, then small
  // transactions and a 64 KiB stream through a link to a fixed-latency
  // memory and to the DDR5 controller.
  Driver base("baseline_driver"), small("small_driver"), stream("stream_driver");
  Driver dram_small("dram_small_driver"), dram_stream("dram_stream_driver");
  NullTarget null("null_target");
  hw::PhotonicLinkModule small_link("small_link", BenchLink()), stream_link("stream_link", BenchLink());
  hw::FixedLatencyMemory small_mem("small_memory", 1 << 20, sc_time(80, SC_NS));
  hw::FixedLatencyMemory stream_mem("stream_memory", 64 << 20, sc_time(80, SC_NS));
  hw::PhotonicLinkModule dram_small_link("dram_small_link", BenchLink());
  hw::PhotonicLinkModule dram_stream_link("dram_stream_link", BenchLink());
  hw::DramParams ddr5;  // the defaults: DDR5-4800, transaction level
  hw::DramController dram_small_mem("dram_small_memory", ddr5), dram_stream_mem("dram_stream_memory", ddr5);
  dram_small.socket.bind(dram_small_link.target);
  dram_small_link.initiator.bind(dram_small_mem.target);
  dram_stream.socket.bind(dram_stream_link.target);
  dram_stream_link.initiator.bind(dram_stream_mem.target);
  base.socket.bind(null.socket);
  small.socket.bind(small_link.target);
  small_link.initiator.bind(small_mem.target);
  stream.socket.bind(stream_link.target);
  stream_link.initiator.bind(stream_mem.target);
  base.count = small.count = o.small_transactions;
  dram_small.count = o.small_transactions;
  stream.size = dram_stream.size = 65536;
  stream.count = dram_stream.count = o.stream_bytes / 65536;
  ModelBenchReport r;
  r.memcpy_gb_per_s_64k = MemcpyGbPerS(o.stream_bytes);
  sc_core::sc_start();
  r.baseline_txn_per_s = static_cast<double>(base.count) / base.wall_s;
  r.txn_per_s = static_cast<double>(small.count) / small.wall_s;
  double stream_bytes = static_cast<double>(stream.count) * 65536;
  r.gb_per_s_64k = stream_bytes / 1e9 / stream.wall_s;
  r.simulated_gbps_64k = stream_bytes / (stream.last.to_seconds() * 1e9);
  r.dram_txn_per_s = static_cast<double>(dram_small.count) / dram_small.wall_s;
  r.dram_gb_per_s_64k = stream_bytes / 1e9 / dram_stream.wall_s;
  r.what = "photonic_wdm link (16 x 32 Gb/s) + fixed-latency memory, loosely timed, depth 16, data copied";
  return r;
}

std::string FormatTable(const ModelBenchReport& r) {
  std::ostringstream out;
  out << "lightloop bench model: " << r.what << "\n" << std::fixed << std::setprecision(2);
  out << "baseline, same run: bare b_transport loop " << r.baseline_txn_per_s / 1e6 << " M txn/s\n\n";
  out << "64 B transactions:  " << r.txn_per_s / 1e6 << " M txn/s  (" << std::setprecision(3)
      << r.txn_per_s / r.baseline_txn_per_s << " of the baseline)\n";
  out << std::setprecision(2) << "64 KiB stream:      " << r.gb_per_s_64k << " GB simulated per wall second ("
      << std::setprecision(3) << r.gb_per_s_64k / r.memcpy_gb_per_s_64k << " of memcpy's "
      << std::setprecision(2) << r.memcpy_gb_per_s_64k << " GB/s, same run; link at " << r.simulated_gbps_64k
      << " GB/s in simulated time)\n";
  out << "with the DDR5 controller instead: " << r.dram_txn_per_s / 1e6 << " M txn/s ("
      << std::setprecision(3) << r.dram_txn_per_s / r.baseline_txn_per_s << " of the baseline), "
      << std::setprecision(2) << r.dram_gb_per_s_64k << " GB per wall second at 64 KiB\n";
  return out.str();
}

nlohmann::json ToJson(const ModelBenchReport& r) {
  return {{"txn_per_s", r.txn_per_s},
          {"gb_per_s_64k", r.gb_per_s_64k},
          {"baseline_txn_per_s", r.baseline_txn_per_s},
          {"ratio_vs_baseline", r.txn_per_s / r.baseline_txn_per_s},
          {"simulated_gbps_64k", r.simulated_gbps_64k},
          {"dram", {{"txn_per_s", r.dram_txn_per_s}, {"gb_per_s_64k", r.dram_gb_per_s_64k}}},
          {"memcpy_gb_per_s_64k", r.memcpy_gb_per_s_64k},
          {"model", r.what}};
}

}  // namespace lightloop::testbench
