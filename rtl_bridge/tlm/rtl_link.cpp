// SPDX-License-Identifier: Apache-2.0
// The one class that touches the ports of Vll_link for the TLM adapter.
#include "lightloop/rtl_bridge/tlm/rtl_link.h"

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "lightloop/hw_models/config/config_reference.h"
#include "lightloop/hw_models/link/link_registry.h"
#include "lightloop/hw_models/node/node_fabric.h"
#include "link_direction.h"

namespace lightloop::rtl_bridge {
namespace {

using hw_models::ConfigReader;
using hw_models::NumberParam;
using sc_core::sc_time;

const NumberParam kClock{"clock_mhz", "MHz", 1000, 10, 10000, "link clock: one flit per cycle and direction"};
const NumberParam kLane{"lane_latency_cycles", "cycles", 8, 1, 64, "data lane latency, each direction", true};
const NumberParam kControl{
    "control_latency_cycles", "cycles", 8, 1, 64, "ACK/NAK/credit lane latency, each direction", true};
const NumberParam kCredits{"credits", "flits", 32, 1, 32, "receiver buffer advertised as credits", true};
const NumberParam kTimeout{"timeout_cycles", "cycles", 512, 0, 65535, "replay timer (0: off)", true};
const NumberParam kBer{"ber", "", 0, 0, 1e-3, "bit error rate of the data lanes (a flit is 104 bits)"};
const NumberParam kSeed{"seed", "", 1, 0, 4294967294.0, "seed of the lanes' error draws", true};

constexpr uint32_t kFlitBits = kFlitWireBytes * 8;

class RtlLinkModule : public sc_core::sc_module, public hw_models::LinkModel {
 public:
  tlm_utils::simple_target_socket<RtlLinkModule> target;
  tlm_utils::simple_initiator_socket<RtlLinkModule> initiator;

  RtlLinkModule(sc_core::sc_module_name name, const RtlLinkParams& p)
      : sc_module(name),
        target("target"),
        initiator("initiator"),
        period_(sc_time(1e3 / p.clock_mhz, sc_core::SC_NS)),
        dirs_{LinkDirection(p, p.seed), LinkDirection(p, p.seed + 2)} {
    target.register_b_transport(this, &RtlLinkModule::b_transport);
  }

  tlm::tlm_target_socket<>& target_socket() override { return target; }
  tlm::tlm_initiator_socket<>& initiator_socket() override { return initiator; }

  hw_models::LinkCounters counters() const override {
    hw_models::LinkCounters c;
    c.payload_bytes = payload_bytes_;
    for (const LinkDirection& d : dirs_) {
      c.flit_errors += d.crc_errors();
      // The RTL counts go-back-N rounds, not the flits each resent: a round
      // resends the unacknowledged flits (at most the 32 of the replay buffer).
      c.flits_replayed += d.replays();
    }
    c.busy_s = std::max(busy_[0], busy_[1]).to_seconds();
    return c;  // no energy model for the RTL: joules stay 0
  }

 private:
  void b_transport(tlm::tlm_generic_payload& trans, sc_time& delay) {
    const bool write = trans.is_write();
    const uint64_t len = trans.get_data_length();
    const bool timing_only = hw_models::IsTimingOnly(trans);
    unsigned char* data = trans.get_data_ptr();

    // Request direction: the write data, or a one-flit read request.
    std::vector<uint64_t> words = write ? Pack(timing_only ? nullptr : data, len) : std::vector<uint64_t>{1};
    sc_time arrive;
    if (!Cross(0, words, sc_core::sc_time_stamp() + delay, &arrive)) {
      trans.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
      return;
    }
    if (write && !timing_only) Unpack(received_, data, len);  // what the far end gets is what arrived
    delay = arrive - sc_core::sc_time_stamp();
    initiator->b_transport(trans, delay);
    if (trans.is_response_error()) return;

    // Response direction: the read data, or a one-flit acknowledgement.
    words = write ? std::vector<uint64_t>{1} : Pack(timing_only ? nullptr : data, len);
    sc_time done;
    if (!Cross(1, words, sc_core::sc_time_stamp() + delay, &done)) {
      trans.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
      return;
    }
    if (!write && !timing_only) Unpack(received_, data, len);
    delay = done - sc_core::sc_time_stamp();
    payload_bytes_ += len;
  }

  // Carries `words` over direction `d` starting no earlier than `ready`;
  // `arrive` is when the last was delivered.
  bool Cross(int d, const std::vector<uint64_t>& words, sc_time ready, sc_time* arrive) {
    const sc_time start = std::max(ready, free_at_[d]);
    LinkDirection::Crossing c = dirs_[d].Carry(words, received_);
    if (!c.ok) return false;
    free_at_[d] = start + period_ * static_cast<double>(c.accepted);
    busy_[d] += period_ * static_cast<double>(c.accepted);
    *arrive = start + period_ * static_cast<double>(c.delivered);
    return true;
  }

  static std::vector<uint64_t> Pack(const unsigned char* data, uint64_t len) {
    std::vector<uint64_t> words(std::max<uint64_t>(1, (len + kFlitPayloadBytes - 1) / kFlitPayloadBytes), 0);
    if (data != nullptr) std::memcpy(words.data(), data, len);
    return words;
  }
  static void Unpack(const std::vector<uint64_t>& words, unsigned char* data, uint64_t len) {
    std::memcpy(data, words.data(), std::min<uint64_t>(len, words.size() * kFlitPayloadBytes));
  }

  sc_time period_;
  LinkDirection dirs_[2];
  sc_time free_at_[2]{sc_core::SC_ZERO_TIME, sc_core::SC_ZERO_TIME};
  sc_time busy_[2]{sc_core::SC_ZERO_TIME, sc_core::SC_ZERO_TIME};
  std::vector<uint64_t> received_;
  uint64_t payload_bytes_ = 0;
};

class RtlLinkSpec : public hw_models::LinkSpec {
 public:
  explicit RtlLinkSpec(ConfigReader& s) : p_(ReadRtlLink(s)), photonic_(EquivalentPhotonic(p_)) {}
  std::unique_ptr<hw_models::LinkModel> Build(const char* name) const override {
    return std::make_unique<RtlLinkModule>(name, p_);
  }
  const hw_models::PhotonicLinkParams* photonic() const override { return &photonic_; }

 private:
  RtlLinkParams p_;
  hw_models::PhotonicLinkParams photonic_;
};

}  // namespace

uint32_t RtlLinkParams::ErrThreshold() const {
  const double p_flit = -std::expm1(kFlitBits * std::log1p(-ber));
  return static_cast<uint32_t>(std::min<long long>(65535, std::llround(p_flit * 65536.0)));
}

RtlLinkParams ReadRtlLink(ConfigReader& s) {
  RtlLinkParams p;
  p.clock_mhz = s.Number(kClock);
  p.lane_latency_cycles = static_cast<uint32_t>(s.Integer(kLane));
  p.control_latency_cycles = static_cast<uint32_t>(s.Integer(kControl));
  p.credits = static_cast<uint32_t>(s.Integer(kCredits));
  p.timeout_cycles = static_cast<uint32_t>(s.Integer(kTimeout));
  p.ber = s.Number(kBer);
  p.seed = static_cast<uint32_t>(s.Integer(kSeed));
  return p;
}

hw_models::PhotonicLinkParams EquivalentPhotonic(const RtlLinkParams& p) {
  const double period_ns = 1e3 / p.clock_mhz;
  hw_models::PhotonicLinkParams e;
  e.wavelengths = 1;
  e.fibres = 1;
  e.gbps_per_wavelength = kFlitBits * p.clock_mhz / 1e3;  // one flit per cycle
  e.modulation = hw_models::Modulation::kNrz;
  e.encoding = hw_models::Encoding::kNone;
  e.fec = hw_models::Fec::kNone;
  e.fec_latency_ns = 0;
  e.serdes_latency_ns = kPipelineCycles * period_ns / 2;
  e.ns_per_m = 4.9;
  e.fibre_m = p.lane_latency_cycles * period_ns / e.ns_per_m;
  e.flit_bytes = kFlitWireBytes;
  e.header_bytes = kFlitWireBytes - kFlitPayloadBytes;
  e.ber = p.ber;
  e.credits = p.credits;
  e.credit_return_ns = (p.control_latency_cycles + kPipelineCycles) * period_ns;
  e.seed = p.seed;
  return e;
}

void RegisterRtlLink() {
  static const bool registered = [] {
    hw_models::LinkRegistry().Add("rtl", [](ConfigReader& s) { return std::make_unique<RtlLinkSpec>(s); });
    hw_models::RegisterConfigReferenceSection(
        "`link:` — `impl: rtl`",
        "The link layer's RTL (rtl_bridge, Verilated), each direction clocked for every transfer: flits of 8 "
        "payload bytes with a sequence number and CRC-32, go-back-N replay and credits (docs/models.md).",
        "link", [](ConfigReader& s) { ReadRtlLink(s); });
    return true;
  }();
  (void)registered;
}

}  // namespace lightloop::rtl_bridge
