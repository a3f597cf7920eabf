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

// Forwards a piece of `whole` to `target` starting at the same time as
// the whole; returns false (with the error copied) when the piece failed.
bool ForwardPiece(tlm::tlm_fw_transport_if<>* target, tlm::tlm_generic_payload& whole, uint64_t address,
                  unsigned char* data, uint64_t length, sc_time start, sc_time& latest) {
  tlm::tlm_generic_payload piece;
  piece.set_command(whole.get_command());
  piece.set_address(address);
  piece.set_data_ptr(data);
  piece.set_data_length(static_cast<unsigned>(length));
  piece.set_streaming_width(static_cast<unsigned>(length));
  piece.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  sc_time delay = start;
  target->b_transport(piece, delay);
  if (piece.is_response_error()) {
    whole.set_response_status(piece.get_response_status());
    return false;
  }
  latest = std::max(latest, delay);
  return true;
}

// Stripes each transfer across the rails: rail i carries the i-th slice,
// all slices leave together, the transfer is done when the last one is.
struct Striper : sc_core::sc_module {
  tlm_utils::simple_target_socket<Striper> in{"in"};
  tlm_utils::multi_passthrough_initiator_socket<Striper> out{"out"};
  explicit Striper(sc_core::sc_module_name name) : sc_module(name) {
    in.register_b_transport(this, &Striper::b_transport);
  }
  void b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
    const uint64_t len = trans.get_data_length(), rails = out.size();
    const uint64_t slice = (len + rails - 1) / rails;
    sc_time latest = delay;
    for (uint64_t i = 0; i * slice < len; ++i) {
      uint64_t off = i * slice;
      if (!ForwardPiece(out[static_cast<int>(i)], trans, trans.get_address() + off,
                        trans.get_data_ptr() + off, std::min(slice, len - off), delay, latest)) {
        return;
      }
    }
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
    delay = latest;
  }
};

// Behind a switch: each transfer takes the rail of the controller it
// addresses (controller k on rail k % rails), whole.
struct Steerer : sc_core::sc_module {
  tlm_utils::simple_target_socket<Steerer> in{"in"};
  tlm_utils::multi_passthrough_initiator_socket<Steerer> out{"out"};
  uint64_t controller_bytes;
  Steerer(sc_core::sc_module_name name, uint64_t bytes) : sc_module(name), controller_bytes(bytes) {
    in.register_b_transport(this, &Steerer::b_transport);
  }
  void b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
    out[static_cast<int>(trans.get_address() / controller_bytes % out.size())]->b_transport(trans, delay);
  }
};

// Interleaves the address space across controllers, `interleave` bytes at
// a time; a transfer that spans several goes to each in parallel.
struct Interleaver : sc_core::sc_module {
  tlm_utils::multi_passthrough_target_socket<Interleaver> in{"in"};
  tlm_utils::multi_passthrough_initiator_socket<Interleaver> out{"out"};
  uint64_t interleave;
  Interleaver(sc_core::sc_module_name name, uint64_t bytes) : sc_module(name), interleave(bytes) {
    in.register_b_transport(this, &Interleaver::b_transport);
  }
  void b_transport(int, tlm::tlm_generic_payload& trans, sc_time& delay) {
    const uint64_t k = out.size(), len = trans.get_data_length();
    sc_time latest = delay;
    for (uint64_t off = 0; off < len;) {
      uint64_t a = trans.get_address() + off, unit = a / interleave;
      uint64_t n = std::min(len - off, (unit + 1) * interleave - a);
      uint64_t local = unit / k * interleave + a % interleave;
      if (!ForwardPiece(out[static_cast<int>(unit % k)], trans, local, trans.get_data_ptr() + off, n, delay,
                        latest)) {
        return;
      }
      off += n;
    }
    trans.set_response_status(tlm::TLM_OK_RESPONSE);
    delay = latest;
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
  std::vector<std::unique_ptr<LinkModel>> links;
  for (int64_t i = 0; i < node.rails; ++i)
    links.push_back(node.link->Build(sc_core::sc_gen_unique_name("link")));
  std::vector<std::unique_ptr<MemoryModel>> memories;
  for (int64_t i = 0; i < node.controllers; ++i) {
    memories.push_back(node.memory->Build(sc_core::sc_gen_unique_name("memory")));
  }
  // Front end: one rail, rails striped, or (behind a switch) rails steered.
  std::unique_ptr<Striper> striper;
  std::unique_ptr<Steerer> steerer;
  if (links.size() == 1) {
    driver.socket.bind(links[0]->target_socket());
  } else if (node.fabric_switch) {
    steerer = std::make_unique<Steerer>("steerer", node.memory->size());
    driver.socket.bind(steerer->in);
    for (auto& link : links) steerer->out.bind(link->target_socket());
  } else {
    striper = std::make_unique<Striper>("striper");
    driver.socket.bind(striper->in);
    for (auto& link : links) striper->out.bind(link->target_socket());
  }
  // Far end: one memory, a switch, or controllers interleaved.
  std::unique_ptr<SwitchModel> fabric_switch;
  std::unique_ptr<Interleaver> interleaver;
  if (node.fabric_switch) {
    fabric_switch = node.fabric_switch->Build("switch", node.memory->size());
    for (auto& link : links) link->initiator_socket().bind(fabric_switch->inputs());
    for (auto& memory : memories) fabric_switch->outputs().bind(memory->socket());
  } else if (links.size() == 1 && memories.size() == 1) {
    links[0]->initiator_socket().bind(memories[0]->socket());
  } else {
    interleaver = std::make_unique<Interleaver>("interleaver", node.interleave_bytes);
    for (auto& link : links) link->initiator_socket().bind(interleaver->in);
    for (auto& memory : memories) interleaver->out.bind(memory->socket());
  }
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
  if (fabric_switch) r.reconfigurations = fabric_switch->reconfigurations();
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
