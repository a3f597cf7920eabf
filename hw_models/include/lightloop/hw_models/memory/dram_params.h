// SPDX-License-Identifier: Apache-2.0
// Parameters of the DRAM memory controller (`memory: {impl: dram, ...}`):
// JEDEC-style timings in clock cycles of tCK, the organisation (channels,
// ranks, bank groups, banks, rows, row size), the address mapping, the page
// policy, the read and write queues, the CXL port and protocol latency, and
// energy. Presets: hw_models/presets/memory/{ddr5_4800,hbm3,cxl_ddr5_4800}.yaml.
//
//   ConfigReader top = ConfigReader::Load("hw_models/presets/memory/ddr5_4800.yaml");
//   ConfigReader section = top.Section("memory");
//   DramParams p = ReadDram(section);   // after the caller read `impl`
//   section.Finish();
//   DramAddressMap map(p);
//   DramCoord c = map.Decode(0x12345640);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lightloop/hw_models/config/config_reader.h"

namespace lightloop::hw_models {

// Timings in cycles of tCK (tck_ns).
struct DramTiming {
  int64_t tCL = 40;   // read command to first data
  int64_t tCWL = 38;  // write command to first data
  int64_t tRCD = 39;
  int64_t tRP = 39;
  int64_t tRAS = 77;
  int64_t tRFC = 708;    // all-bank refresh
  int64_t tREFI = 9375;  // refresh interval
  int64_t tBL = 8;       // data bus cycles of one burst
  int64_t tCCD_S = 8;    // column to column, other bank group
  int64_t tCCD_L = 12;   // column to column, same bank group
  int64_t tRRD_S = 8;    // activate to activate, other bank group
  int64_t tRRD_L = 12;   // activate to activate, same bank group
  int64_t tFAW = 32;     // window of four activates per rank
  int64_t tWR = 72;      // write recovery: end of write data to precharge
  int64_t tWTR_S = 6;    // end of write data to read, other bank group
  int64_t tWTR_L = 24;   // end of write data to read, same bank group
  int64_t tRTP = 18;     // read to precharge
  int64_t tRTRS = 2;     // rank to rank switch on the data bus
  int64_t tRC() const { return tRAS + tRP; }
  // Read to write turnaround on the data bus (any bank of the rank).
  int64_t tRTW() const { return tCL + tBL + 2 - tCWL; }
};

enum class PagePolicy { kOpen, kClosed };
enum class DramFidelity { kCommand, kTransaction };
enum class DramField { kChannel, kRank, kBankGroup, kBank, kRow, kColumn };

struct DramParams {
  std::string standard = "ddr5";  // informative: ddr5, hbm3, ...
  DramFidelity fidelity = DramFidelity::kTransaction;
  double tck_ns = 0.416;
  DramTiming t;
  int64_t channels = 2;
  int64_t ranks = 1;
  int64_t bankgroups = 8;
  int64_t banks_per_group = 4;
  int64_t rows = 65536;
  int64_t row_bytes = 4096;  // page of one bank across the channel's devices
  int64_t bus_bits = 32;     // data bus width of one channel
  int64_t burst_length = 16;
  // Fields from the most significant bit to the least, above the burst offset.
  std::vector<DramField> mapping{DramField::kRow,    DramField::kRank,      DramField::kBank,
                                 DramField::kColumn, DramField::kBankGroup, DramField::kChannel};
  PagePolicy page_policy = PagePolicy::kOpen;
  int64_t read_queue = 32;  // per channel, bursts
  int64_t write_queue = 32;
  int64_t write_high = 24;     // drain writes from this many queued...
  int64_t write_low = 8;       // ...down to this many
  double port_latency_ns = 0;  // CXL.mem: port and protocol latency, each direction
  double act_pj = 1500;        // ACT + PRE pair
  double read_pj = 2600;       // one burst
  double write_pj = 2800;
  double refresh_pj = 250000;  // one all-bank REF of one rank
  double background_mw = 400;  // per rank

  uint64_t burst_bytes() const { return static_cast<uint64_t>(bus_bits / 8 * burst_length); }
  uint64_t capacity() const;
  int64_t banks_per_rank() const { return bankgroups * banks_per_group; }
};

// Reads the keys of an `impl: dram` section (not `impl`). Checks that the
// organisation is made of powers of two and that the mapping names each
// field once. Throws ConfigError.
DramParams ReadDram(ConfigReader& section);

// Address bits of `field` (log2 of its count; columns in bursts).
int DramFieldBits(const DramParams& p, DramField field);

struct DramCoord {
  int channel = 0, rank = 0, bankgroup = 0, bank = 0;  // bank within its group
  int64_t row = 0, column = 0;                         // column in bursts
};

// A bank's index within its channel: rank-major, then bank group, then bank.
inline int DramBankIndex(const DramParams& p, const DramCoord& c) {
  return static_cast<int>((c.rank * p.bankgroups + c.bankgroup) * p.banks_per_group + c.bank);
}

class DramAddressMap {
 public:
  explicit DramAddressMap(const DramParams& p);
  DramCoord Decode(uint64_t address) const;
  uint64_t Encode(const DramCoord& c) const;

 private:
  struct Slice {
    DramField field;
    int shift;
    int bits;
  };
  std::vector<Slice> slices_;
  int offset_bits_ = 0;
};

// What the datasheet says without simulating: unloaded latencies of one
// burst and the channel's peak and refresh-derated bandwidth.
class DramClosedForm {
 public:
  explicit DramClosedForm(const DramParams& p) : p_(p) {}
  double RowHitNs() const { return (p_.t.tCL + p_.t.tBL) * p_.tck_ns; }
  double RowMissNs() const { return (p_.t.tRCD + p_.t.tCL + p_.t.tBL) * p_.tck_ns; }
  double RowConflictNs() const { return (p_.t.tRP + p_.t.tRCD + p_.t.tCL + p_.t.tBL) * p_.tck_ns; }
  double PeakGBps() const {
    return static_cast<double>(p_.burst_bytes()) * static_cast<double>(p_.channels) /
           (static_cast<double>(p_.t.tBL) * p_.tck_ns);
  }
  // Fraction of time a rank is refreshing.
  double RefreshOverhead() const { return static_cast<double>(p_.t.tRFC) / static_cast<double>(p_.t.tREFI); }
  double StreamingGBps() const { return PeakGBps() * (1 - RefreshOverhead()); }

 private:
  DramParams p_;
};

}  // namespace lightloop::hw_models
