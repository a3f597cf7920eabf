// SPDX-License-Identifier: Apache-2.0
// Parameters of a photonic WDM link (`link: {impl: photonic_wdm, ...}`) and
// their closed form: unloaded latency of one transfer, saturated payload
// bandwidth (with the credit limit and replays) and energy per bit. The TLM
// model of the link is checked against these numbers.
//
//   ConfigReader top = ConfigReader::Load("hw_models/presets/links/pam4_8x112g_rs544.yaml");
//   ConfigReader section = top.Section("link");
//   PhotonicLinkParams p = ReadPhotonicLink(section);
//   section.Finish();
//   LinkClosedForm link(p);
//   double ns = link.TransferLatencyNs(64 << 10);
#pragma once

#include <cstdint>
#include <string>

#include "lightloop/hw_models/config/config_reader.h"

namespace lightloop::hw_models {

enum class Modulation { kNrz, kPam4 };
enum class Encoding { kNone, k64b66b, k128b130b };
enum class Fec { kNone, kRs528, kRs544 };

struct PhotonicLinkParams {
  int64_t wavelengths = 16;  // lanes per fibre
  int64_t fibres = 1;
  double gbps_per_wavelength = 32;  // line rate, Gb/s
  Modulation modulation = Modulation::kNrz;
  Encoding encoding = Encoding::kNone;
  Fec fec = Fec::kNone;
  double fec_latency_ns = 0;
  double serdes_latency_ns = 5;  // per end
  double fibre_m = 1;
  double ns_per_m = 4.9;
  int64_t flit_bytes = 256;
  int64_t header_bytes = 8;
  double ber = 0;        // pre-FEC bit error rate
  int64_t credits = 64;  // flits the receiver can buffer
  double credit_return_ns = 10;
  double laser_pj_per_bit = 0;
  double modulator_pj_per_bit = 0;
  double receiver_pj_per_bit = 0;
  double serdes_pj_per_bit = 0;
  double warmup_us = 0;      // laser / ring lock after power-up
  bool initially_up = true;  // false: down until powered up (then warm-up)
  int64_t seed = 1;          // of the bit-error draws: same seed, same run
};

// Reads and validates the keys of a `photonic_wdm` link section (not `impl`,
// which the caller dispatches on). Throws ConfigError.
PhotonicLinkParams ReadPhotonicLink(ConfigReader& section);

class LinkClosedForm {
 public:
  explicit LinkClosedForm(const PhotonicLinkParams& p);

  int64_t lanes() const;
  // Fraction of line bits that carry payload: encoding x FEC x framing.
  double Efficiency() const;
  // Payload gigabytes per second with the link saturated.
  double PayloadGBps() const;
  // Time on the wire for `bytes` of payload, whole flits, all lanes.
  double SerializationNs(uint64_t bytes) const;
  // One transfer on an idle link: serialization + SerDes at both ends + FEC +
  // time of flight.
  double TransferLatencyNs(uint64_t bytes) const;
  double PjPerBit() const;  // per line bit, all contributions
  double SymbolRateGBaud() const;

  // Probability that a flit arrives with an error the CRC catches: from the
  // raw BER without FEC; with RS(n,514) over 10-bit symbols, the chance that
  // a codeword has more than t = (n-514)/2 symbol errors, per flit's share.
  double FlitErrorProbability() const;
  double FlitNs() const;
  // Flits sent again per error under go-back-N: those sent during the
  // round trip of the NAK, at most the credits.
  int64_t ReplayFlits() const;
  // From the start of a flit to the return of its credit: the flit's
  // serialization, the one-way latency (SerDes x 2 + FEC + time of flight),
  // then credit_return_ns.
  double CreditRoundTripNs() const;
  // Saturated payload bandwidth under credit flow control: at most `credits`
  // flits start per credit round trip, so
  //   min(PayloadGBps(), credits x (flit_bytes - header_bytes) / CreditRoundTripNs()).
  // It is PayloadGBps() whenever credits x FlitNs() >= CreditRoundTripNs().
  double CreditLimitedGBps() const;
  // Saturated payload bandwidth once the credit limit and the replays are
  // paid for: CreditLimitedGBps() / (1 + p_flit x ReplayFlits()).
  double ExpectedGoodputGBps() const;

 private:
  PhotonicLinkParams p_;
};

}  // namespace lightloop::hw_models
