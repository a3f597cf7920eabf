// SPDX-License-Identifier: Apache-2.0
// RunNodeModel: a traffic driver, the link and the memory, simulated once.
#include <tlm_utils/multi_passthrough_initiator_socket.h>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <random>
#include <systemc>
#include <tlm>
#include <vector>

#include "lightloop/hw_models/link/photonic_link_module.h"
#include "lightloop/hw_models/node/memory_node.h"
#include "lightloop/hw_models/node/node_fabric.h"

namespace lightloop::hw_models {
namespace {

using sc_core::sc_time;

// Issues the traffic with `depth` transfers outstanding and records each
// transfer's latency. Two ways:
// - loosely timed (the default): one thread issues every transfer with its
//   issue time as annotated delay (temporal decoupling), syncing with the
//   kernel whenever its local time runs more than `quantum` ahead (0: never);
// - one thread per outstanding transfer (`threads`), each synchronising on
//   every transfer: for targets that wait inside b_transport (the
//   command-level DRAM), so that `depth` transfers contend for real.
struct TrafficDriver : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<TrafficDriver> socket{"socket"};
  TrafficSpec spec;
  uint64_t span = 0;  // addressable bytes
  bool threads = false;
  std::vector<double> latency_ns;
  sc_time last;
  uint64_t syncs = 0;  // waits for the quantum

  SC_HAS_PROCESS(TrafficDriver);
  explicit TrafficDriver(sc_core::sc_module_name name) : sc_module(name) { SC_THREAD(Run); }

  uint64_t Address(uint64_t i, std::mt19937_64& rng) const {
    uint64_t slots = std::max<uint64_t>(1, span / spec.size);
    switch (spec.pattern) {
      case TrafficPattern::kSequential: return (i % slots) * spec.size;
      case TrafficPattern::kRandom: return (rng() % slots) * spec.size;
      case TrafficPattern::kStrided: return (i * spec.stride) % (slots * spec.size) / spec.size * spec.size;
    }
    return 0;
  }

  void Prepare(tlm::tlm_generic_payload& trans, uint64_t i, std::mt19937_64& rng,
               std::uniform_real_distribution<double>& coin, std::vector<unsigned char>& buf) {
    trans.set_command(coin(rng) < spec.read_fraction ? tlm::TLM_READ_COMMAND : tlm::TLM_WRITE_COMMAND);
    trans.set_address(Address(i, rng));
    trans.set_data_ptr(buf.data());
    trans.set_data_length(spec.size);
    trans.set_streaming_width(spec.size);
    trans.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  }

  void Run() {
    latency_ns.reserve(spec.count);
    if (threads) {
      RunThreads();
      return;
    }
    std::mt19937_64 rng(spec.seed);
    std::uniform_real_distribution<double> coin(0, 1);
    std::vector<unsigned char> buf(spec.size, 0x5a);
    tlm::tlm_generic_payload trans;
    std::deque<sc_time> inflight;  // completion times, absolute
    const sc_time quantum(spec.quantum_ns, sc_core::SC_NS);
    sc_time issue = sc_core::SC_ZERO_TIME;
    for (uint64_t i = 0; i < spec.count; ++i) {
      if (inflight.size() >= spec.depth) {
        issue = std::max(issue, inflight.front());
        inflight.pop_front();
      }
      sc_time now = sc_core::sc_time_stamp();
      if (quantum > sc_core::SC_ZERO_TIME && issue > now + quantum) {
        wait(issue - now);  // the local time ran a quantum ahead: let the kernel catch up
        ++syncs;
        now = sc_core::sc_time_stamp();
      }
      Prepare(trans, i, rng, coin, buf);
      sc_time delay = issue > now ? issue - now : sc_core::SC_ZERO_TIME;
      socket->b_transport(trans, delay);
      sc_time done = sc_core::sc_time_stamp() + delay;
      latency_ns.push_back((done - issue).to_seconds() * 1e9);
      inflight.push_back(done);
      last = std::max(last, done);
    }
  }

  void RunThreads() {
    auto rng = std::make_shared<std::mt19937_64>(spec.seed);
    auto coin = std::make_shared<std::uniform_real_distribution<double>>(0, 1);
    auto next = std::make_shared<uint64_t>(0);
    for (uint32_t w = 0; w < spec.depth; ++w) {
      sc_core::sc_spawn([this, rng, coin, next] {
        std::vector<unsigned char> buf(spec.size, 0x5a);
        tlm::tlm_generic_payload trans;
        while (*next < spec.count) {
          uint64_t i = (*next)++;
          Prepare(trans, i, *rng, *coin, buf);
          sc_time start = sc_core::sc_time_stamp(), delay = sc_core::SC_ZERO_TIME;
          socket->b_transport(trans, delay);
          wait(delay);
          latency_ns.push_back((sc_core::sc_time_stamp() - start).to_seconds() * 1e9);
          last = std::max(last, sc_core::sc_time_stamp());
        }
      });
    }
  }
};

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

// Saturated goodput: each direction carries its ops' data plus one flit per
// op of the other kind; the busier direction sets the pace.
double ClosedFormGbps(const LinkClosedForm& cf, const TrafficSpec& t) {
  double flits = std::round(cf.SerializationNs(t.size) / cf.FlitNs());
  double rf = t.read_fraction;
  double request = (1 - rf) * flits + rf, response = rf * flits + (1 - rf);
  double ns_per_op = std::max(request, response) * cf.FlitNs() *
                     (1 + cf.FlitErrorProbability() * static_cast<double>(cf.ReplayFlits()));
  return t.size / ns_per_op;
}

}  // namespace

ModelRunResult RunNodeModel(const NodeConfig& node, const TrafficSpec& traffic) {
  TrafficDriver driver("driver");
  NodeFabric fabric(node, "node");
  driver.socket.bind(fabric.front());
  const auto& links = fabric.links();
  const auto& memories = fabric.memories();
  driver.spec = traffic;
  driver.span = node.memory_size();
  driver.threads = node.memory->blocking();
  auto start = std::chrono::steady_clock::now();
  sc_core::sc_start();
  ModelRunResult r;
  r.sim_wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.simulated_s = driver.last.to_seconds();
  r.latency_ns_p50 = Percentile(driver.latency_ns, 0.50);
  r.latency_ns_p99 = Percentile(driver.latency_ns, 0.99);
  r.latency_ns_max =
      driver.latency_ns.empty() ? 0 : *std::max_element(driver.latency_ns.begin(), driver.latency_ns.end());
  double bytes = 0, busiest = 0;
  for (const auto& link : links) {
    LinkCounters c = link->counters();
    bytes += static_cast<double>(c.payload_bytes);
    busiest = std::max(busiest, c.busy_s);
    r.flit_errors += c.flit_errors;
    r.flits_replayed += c.flits_replayed;
    r.joules += c.joules;
  }
  r.gbps = r.simulated_s > 0 ? bytes / (r.simulated_s * 1e9) : 0;
  r.link_utilization = r.simulated_s > 0 ? busiest / r.simulated_s : 0;
  double hit_sum = 0;
  int with_rows = 0;
  for (const auto& memory : memories) {
    r.joules += memory->joules(driver.last);
    if (std::optional<double> hits = memory->row_buffer_hit_rate()) {
      hit_sum += *hits;
      ++with_rows;
    }
  }
  r.row_buffer_hit_rate = with_rows > 0 ? hit_sum / with_rows : -1;
  r.pj_per_bit = bytes > 0 ? r.joules / (bytes * 8) * 1e12 : 0;
  if (fabric.fabric_switch() != nullptr) r.reconfigurations = fabric.fabric_switch()->reconfigurations();
  r.quantum_syncs = driver.syncs;
  const PhotonicLinkParams* photonic = node.link->photonic();
  if (photonic == nullptr) return r;  // a link without a closed form
  // Closed form: one transfer on an idle node (circuits up), and the
  // saturated rate of the slower of the links and the memory.
  LinkClosedForm cf(*photonic);
  // Behind a switch a transfer goes whole over one rail to one controller.
  const bool striped = !node.fabric_switch;
  const uint64_t rails = static_cast<uint64_t>(node.rails);
  const uint64_t k = static_cast<uint64_t>(node.controllers);
  const TransferShare share =
      striped ? StripedShare(node, traffic.size) : TransferShare{traffic.size, traffic.size};
  const uint64_t slice = share.per_rail, per_controller = share.per_controller;
  double rf = traffic.read_fraction;
  double write_ns = cf.TransferLatencyNs(slice) + node.memory->IdleLatencyNs(true, per_controller) +
                    cf.TransferLatencyNs(1);
  double read_ns = cf.TransferLatencyNs(1) + node.memory->IdleLatencyNs(false, per_controller) +
                   cf.TransferLatencyNs(slice);
  r.closed_form_latency_ns = rf * read_ns + (1 - rf) * write_ns;
  TrafficSpec per_rail = traffic;
  per_rail.size = static_cast<uint32_t>(slice);
  r.closed_form_gbps =
      ClosedFormGbps(cf, per_rail) * static_cast<double>(std::min(rails, striped ? rails : k));
  if (double memory_gbps = node.memory->PeakGBps() * static_cast<double>(k); memory_gbps > 0) {
    r.closed_form_gbps = std::min(r.closed_form_gbps, memory_gbps);
  }
  return r;
}

}  // namespace lightloop::hw_models
