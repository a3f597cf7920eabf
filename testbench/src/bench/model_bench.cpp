// SPDX-License-Identifier: Apache-2.0
#include "lightloop/testbench/model_bench.h"

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <chrono>
#include <deque>
#include <functional>
#include <iomanip>
#include <memory>
#include <sstream>
#include <systemc>
#include <tlm>
#include <vector>

#include "lightloop/hw_models/link/photonic_link_module.h"
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
  // Three independent chains in one elaboration: baseline, small, stream.
  Driver base("baseline_driver"), small("small_driver"), stream("stream_driver");
  NullTarget null("null_target");
  hw::PhotonicLinkModule small_link("small_link", BenchLink()), stream_link("stream_link", BenchLink());
  hw::FixedLatencyMemory small_mem("small_memory", 1 << 20, sc_time(80, SC_NS));
  hw::FixedLatencyMemory stream_mem("stream_memory", 64 << 20, sc_time(80, SC_NS));
  base.socket.bind(null.socket);
  small.socket.bind(small_link.target);
  small_link.initiator.bind(small_mem.target);
  stream.socket.bind(stream_link.target);
  stream_link.initiator.bind(stream_mem.target);
  base.count = small.count = o.small_transactions;
  stream.size = 65536;
  stream.count = o.stream_bytes / 65536;
  sc_core::sc_start();

  ModelBenchReport r;
  r.baseline_txn_per_s = static_cast<double>(base.count) / base.wall_s;
  r.txn_per_s = static_cast<double>(small.count) / small.wall_s;
  double stream_bytes = static_cast<double>(stream.count) * 65536;
  r.gb_per_s_64k = stream_bytes / 1e9 / stream.wall_s;
  r.simulated_gbps_64k = stream_bytes / (stream.last.to_seconds() * 1e9);
  r.what = "photonic_wdm link (16 x 32 Gb/s) + fixed-latency memory, loosely timed, depth 16, data copied";
  return r;
}

std::string FormatTable(const ModelBenchReport& r) {
  std::ostringstream out;
  out << "lightloop bench model: " << r.what << "\n" << std::fixed << std::setprecision(2);
  out << "baseline, same run: bare b_transport loop " << r.baseline_txn_per_s / 1e6 << " M txn/s\n\n";
  out << "64 B transactions:  " << r.txn_per_s / 1e6 << " M txn/s  (" << std::setprecision(3)
      << r.txn_per_s / r.baseline_txn_per_s << " of the baseline)\n";
  out << std::setprecision(2) << "64 KiB stream:      " << r.gb_per_s_64k
      << " GB simulated per wall second (link at " << r.simulated_gbps_64k << " GB/s in simulated time)\n";
  return out.str();
}

nlohmann::json ToJson(const ModelBenchReport& r) {
  return {{"txn_per_s", r.txn_per_s},
          {"gb_per_s_64k", r.gb_per_s_64k},
          {"baseline_txn_per_s", r.baseline_txn_per_s},
          {"ratio_vs_baseline", r.txn_per_s / r.baseline_txn_per_s},
          {"simulated_gbps_64k", r.simulated_gbps_64k},
          {"model", r.what}};
}

}  // namespace lightloop::testbench
