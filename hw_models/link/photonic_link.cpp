// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/link/photonic_link.h"

#include <algorithm>
#include <cmath>

namespace lightloop::hw_models {
namespace {

// Each parameter declared once: name, unit, default, range, doc.
const NumberParam kWavelengths{"wavelengths", "", 16, 1, 1024, "lanes (wavelengths) per fibre", true};
const NumberParam kFibres{"fibres", "", 1, 1, 4096, "fibres in the link", true};
const NumberParam kGbps{"gbps_per_wavelength", "Gb/s", 32, 0.001, 10000, "line rate of one wavelength"};
const ChoiceParam kModulation{"modulation", {"nrz", "pam4"}, "nrz", "bits per symbol: nrz 1, pam4 2"};
const ChoiceParam kEncoding{"encoding", {"none", "64b66b", "128b130b"}, "none", "line encoding"};
const ChoiceParam kFec{
    "fec", {"none", "rs528", "rs544"}, "none", "forward error correction: RS(528,514) or RS(544,514)"};
const NumberParam kFecLatency{
    "fec_latency_ns", "ns", 0, 0, 1e6, "decode latency of the FEC (set it when fec is not none)"};
const NumberParam kSerdes{"serdes_latency_ns", "ns", 5, 0, 1e6, "SerDes / PHY latency at each end"};
const NumberParam kFibreM{"fibre_m", "m", 1, 0, 1e7, "fibre length"};
const NumberParam kNsPerM{"ns_per_m", "ns/m", 4.9, 0.1, 100, "time of flight per metre of fibre"};
const NumberParam kFlit{"flit_bytes", "B", 256, 8, 65536, "flit size on the wire, header included", true};
const NumberParam kHeader{"header_bytes", "B", 8, 0, 65535, "protocol header (and CRC) per flit", true};
const NumberParam kBer{"ber", "", 0, 0, 0.5, "pre-FEC bit error rate"};
const NumberParam kCredits{"credits", "flits", 64, 1, 1 << 20, "receive buffer, in flits", true};
const NumberParam kCreditReturn{"credit_return_ns", "ns", 10, 0, 1e6, "time for a credit to come back"};
const NumberParam kLaser{"laser_pj_per_bit", "pJ/bit", 0, 0, 1e4, "laser energy per line bit"};
const NumberParam kModulator{
    "modulator_pj_per_bit", "pJ/bit", 0, 0, 1e4, "modulator and driver energy per line bit"};
const NumberParam kReceiver{"receiver_pj_per_bit", "pJ/bit", 0, 0, 1e4, "receiver energy per line bit"};
const NumberParam kSerdesEnergy{"serdes_pj_per_bit", "pJ/bit", 0, 0, 1e4, "SerDes energy per line bit"};
const NumberParam kSeed{"seed", "", 1, 0, 9.0e15, "seed of the bit-error draws", true};
const NumberParam kWarmup{"warmup_us", "us", 0, 0, 1e9, "laser and ring warm-up after power-up"};
const FlagParam kInitiallyUp{"initially_up", true,
                             "link state at start: up (no warm-up), or down until powered up"};

template <typename E>
E Pick(const std::string& text, const std::vector<std::string>& names, std::initializer_list<E> values) {
  auto it = values.begin();
  for (const std::string& n : names) {
    if (n == text) return *it;
    ++it;
  }
  return *values.begin();  // unreachable: ConfigReader::Choice checked the text
}

double EncodingEfficiency(Encoding e) {
  switch (e) {
    case Encoding::kNone: return 1.0;
    case Encoding::k64b66b: return 64.0 / 66.0;
    case Encoding::k128b130b: return 128.0 / 130.0;
  }
  return 1.0;
}

double FecEfficiency(Fec f) {
  switch (f) {
    case Fec::kNone: return 1.0;
    case Fec::kRs528: return 514.0 / 528.0;
    case Fec::kRs544: return 514.0 / 544.0;
  }
  return 1.0;
}

}  // namespace

PhotonicLinkParams ReadPhotonicLink(ConfigReader& s) {
  PhotonicLinkParams p;
  p.wavelengths = s.Integer(kWavelengths);
  p.fibres = s.Integer(kFibres);
  p.gbps_per_wavelength = s.Number(kGbps);
  p.modulation = Pick(s.Choice(kModulation), kModulation.choices, {Modulation::kNrz, Modulation::kPam4});
  p.encoding =
      Pick(s.Choice(kEncoding), kEncoding.choices, {Encoding::kNone, Encoding::k64b66b, Encoding::k128b130b});
  p.fec = Pick(s.Choice(kFec), kFec.choices, {Fec::kNone, Fec::kRs528, Fec::kRs544});
  p.fec_latency_ns = s.Number(kFecLatency);
  p.serdes_latency_ns = s.Number(kSerdes);
  p.fibre_m = s.Number(kFibreM);
  p.ns_per_m = s.Number(kNsPerM);
  p.flit_bytes = s.Integer(kFlit);
  p.header_bytes = s.Integer(kHeader);
  if (p.header_bytes >= p.flit_bytes) {
    throw ConfigError(s.LocationOf(kHeader.name), s.path() + "." + kHeader.name,
                      std::to_string(p.header_bytes) + " leaves no payload in a " +
                          std::to_string(p.flit_bytes) + "-byte flit");
  }
  p.ber = s.Number(kBer);
  p.credits = s.Integer(kCredits);
  p.credit_return_ns = s.Number(kCreditReturn);
  p.laser_pj_per_bit = s.Number(kLaser);
  p.modulator_pj_per_bit = s.Number(kModulator);
  p.receiver_pj_per_bit = s.Number(kReceiver);
  p.serdes_pj_per_bit = s.Number(kSerdesEnergy);
  p.warmup_us = s.Number(kWarmup);
  p.initially_up = s.Flag(kInitiallyUp);
  p.seed = s.Integer(kSeed);
  return p;
}

LinkClosedForm::LinkClosedForm(const PhotonicLinkParams& p) : p_(p) {}

int64_t LinkClosedForm::lanes() const {
  return p_.wavelengths * p_.fibres;
}

double LinkClosedForm::Efficiency() const {
  double framing = static_cast<double>(p_.flit_bytes - p_.header_bytes) / static_cast<double>(p_.flit_bytes);
  return EncodingEfficiency(p_.encoding) * FecEfficiency(p_.fec) * framing;
}

double LinkClosedForm::PayloadGBps() const {
  return static_cast<double>(lanes()) * p_.gbps_per_wavelength * Efficiency() / 8.0;
}

double LinkClosedForm::SerializationNs(uint64_t bytes) const {
  uint64_t payload_per_flit = static_cast<uint64_t>(p_.flit_bytes - p_.header_bytes);
  uint64_t flits = (bytes + payload_per_flit - 1) / payload_per_flit;
  double line_bits = static_cast<double>(flits * static_cast<uint64_t>(p_.flit_bytes)) * 8.0 /
                     (EncodingEfficiency(p_.encoding) * FecEfficiency(p_.fec));
  return line_bits / (static_cast<double>(lanes()) * p_.gbps_per_wavelength);  // Gb/s = bits/ns
}

double LinkClosedForm::TransferLatencyNs(uint64_t bytes) const {
  return SerializationNs(bytes) + 2 * p_.serdes_latency_ns + p_.fec_latency_ns + p_.fibre_m * p_.ns_per_m;
}

double LinkClosedForm::PjPerBit() const {
  return p_.laser_pj_per_bit + p_.modulator_pj_per_bit + p_.receiver_pj_per_bit + p_.serdes_pj_per_bit;
}

namespace {

// P(more than t of n symbols in error), symbol error probability ps.
double CodewordFailure(int n, int t, double ps) {
  if (ps <= 0) return 0;
  double sum = 0;
  for (int i = t + 1; i <= n; ++i) {
    double log_term = std::lgamma(n + 1) - std::lgamma(i + 1) - std::lgamma(n - i + 1) + i * std::log(ps) +
                      (n - i) * std::log1p(-ps);
    double term = std::exp(log_term);
    sum += term;
    if (i > t + 5 && term < sum * 1e-16) break;
  }
  return std::min(1.0, sum);
}

}  // namespace

double LinkClosedForm::FlitNs() const {
  return SerializationNs(1);
}

double LinkClosedForm::FlitErrorProbability() const {
  double flit_bits = static_cast<double>(p_.flit_bytes) * 8 / EncodingEfficiency(p_.encoding);
  if (p_.ber <= 0) return 0;
  if (p_.fec == Fec::kNone) return -std::expm1(flit_bits * std::log1p(-p_.ber));
  int n = p_.fec == Fec::kRs528 ? 528 : 544;
  double ps = -std::expm1(10 * std::log1p(-p_.ber));
  double codeword = CodewordFailure(n, (n - 514) / 2, ps);
  return std::min(1.0, codeword * flit_bits / (514.0 * 10));
}

int64_t LinkClosedForm::ReplayFlits() const {
  double round_trip = 2 * (TransferLatencyNs(0) - SerializationNs(0)) + FlitNs();
  auto flits = static_cast<int64_t>(std::ceil(round_trip / FlitNs()));
  return std::min(flits, p_.credits);
}

double LinkClosedForm::CreditRoundTripNs() const {
  return FlitNs() + (TransferLatencyNs(0) - SerializationNs(0)) + p_.credit_return_ns;
}

double LinkClosedForm::CreditLimitedGBps() const {
  double payload_per_flit = static_cast<double>(p_.flit_bytes - p_.header_bytes);
  double window = static_cast<double>(p_.credits) * payload_per_flit / CreditRoundTripNs();  // B/ns = GB/s
  return std::min(PayloadGBps(), window);
}

double LinkClosedForm::ExpectedGoodputGBps() const {
  return CreditLimitedGBps() / (1 + FlitErrorProbability() * static_cast<double>(ReplayFlits()));
}

double LinkClosedForm::SymbolRateGBaud() const {
  return p_.gbps_per_wavelength / (p_.modulation == Modulation::kPam4 ? 2.0 : 1.0);
}

}  // namespace lightloop::hw_models
