// SPDX-License-Identifier: Apache-2.0
// RunNodeModel: a traffic driver, the link and the memory, simulated once.
#include <tlm_utils/simple_initiator_socket.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <random>
#include <systemc>
#include <tlm>
#include <vector>

#include "lightloop/hw_models/link/photonic_link_module.h"
#include "lightloop/hw_models/memory/fixed_latency_memory.h"
#include "lightloop/hw_models/node/memory_node.h"

namespace lightloop::hw_models {
namespace {

using sc_core::sc_time;

// Issues the traffic with `depth` transfers outstanding in annotated time
// and records each transfer's latency.
struct TrafficDriver : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<TrafficDriver> socket{"socket"};
  TrafficSpec spec;
  uint64_t span = 0;  // addressable bytes
  std::vector<double> latency_ns;
  sc_time last;

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

  void Run() {
    std::mt19937_64 rng(spec.seed);
    std::uniform_real_distribution<double> coin(0, 1);
    std::vector<unsigned char> buf(spec.size, 0x5a);
    tlm::tlm_generic_payload trans;
    std::deque<sc_time> inflight;
    sc_time issue = sc_core::SC_ZERO_TIME;
    latency_ns.reserve(spec.count);
    for (uint64_t i = 0; i < spec.count; ++i) {
      if (inflight.size() >= spec.depth) {
        issue = std::max(issue, inflight.front());
        inflight.pop_front();
      }
      trans.set_command(coin(rng) < spec.read_fraction ? tlm::TLM_READ_COMMAND : tlm::TLM_WRITE_COMMAND);
      trans.set_address(Address(i, rng));
      trans.set_data_ptr(buf.data());
      trans.set_data_length(spec.size);
      trans.set_streaming_width(spec.size);
      trans.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
      sc_time delay = issue;
      socket->b_transport(trans, delay);
      latency_ns.push_back((delay - issue).to_seconds() * 1e9);
      inflight.push_back(delay);
      last = std::max(last, delay);
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
  PhotonicLinkModule link("link", node.link);
  FixedLatencyMemory memory("memory", node.memory.size, sc_time(node.memory.latency_ns, sc_core::SC_NS));
  driver.socket.bind(link.target);
  link.initiator.bind(memory.target);
  driver.spec = traffic;
  driver.span = node.memory.size;
  auto start = std::chrono::steady_clock::now();
  sc_core::sc_start();
  ModelRunResult r;
  r.sim_wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.simulated_s = driver.last.to_seconds();
  r.latency_ns_p50 = Percentile(driver.latency_ns, 0.50);
  r.latency_ns_p99 = Percentile(driver.latency_ns, 0.99);
  r.latency_ns_max =
      driver.latency_ns.empty() ? 0 : *std::max_element(driver.latency_ns.begin(), driver.latency_ns.end());
  double bytes = static_cast<double>(link.payload_bytes());
  r.gbps = r.simulated_s > 0 ? bytes / (r.simulated_s * 1e9) : 0;
  double busiest = std::max(link.busy_request(), link.busy_response()).to_seconds();
  r.link_utilization = r.simulated_s > 0 ? busiest / r.simulated_s : 0;
  r.flit_errors = link.flit_errors();
  r.flits_replayed = link.flits_replayed();
  r.joules = link.joules();
  r.pj_per_bit = bytes > 0 ? r.joules / (bytes * 8) * 1e12 : 0;
  const LinkClosedForm& cf = link.closed_form();
  double mem = node.memory.latency_ns, rf = traffic.read_fraction;
  double write_ns = cf.TransferLatencyNs(traffic.size) + mem + cf.TransferLatencyNs(1);
  double read_ns = cf.TransferLatencyNs(1) + mem + cf.TransferLatencyNs(traffic.size);
  r.closed_form_latency_ns = rf * read_ns + (1 - rf) * write_ns;
  r.closed_form_gbps = ClosedFormGbps(cf, traffic);
  return r;
}

}  // namespace lightloop::hw_models
