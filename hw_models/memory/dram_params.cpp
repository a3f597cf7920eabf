// SPDX-License-Identifier: Apache-2.0
#include "lightloop/hw_models/memory/dram_params.h"

#include <bit>
#include <sstream>

namespace lightloop::hw_models {
namespace {

NumberParam Cycles(const char* name, double def, const char* doc) {
  return {name, "tCK", def, 0, 1e7, doc, true};
}

const ChoiceParam kStandard{"standard",
                            {"ddr5", "hbm3", "ddr4", "lpddr5", "other"},
                            "ddr5",
                            "the DRAM standard the timings come from (informative)"};
const ChoiceParam kFidelity{"fidelity",
                            {"transaction", "command"},
                            "transaction",
                            "command: every ACT/RD/WR/PRE/REF is scheduled; transaction: a fast "
                            "analytic model of whole transfers, within 5% of command level"};
const NumberParam kTck{"tCK", "ns", 0.416, 0.01, 100, "clock period; every other timing is in cycles of it"};
const NumberParam kCL = Cycles("tCL", 40, "read command to first data");
const NumberParam kCWL = Cycles("tCWL", 38, "write command to first data");
const NumberParam kRCD = Cycles("tRCD", 39, "activate to read or write");
const NumberParam kRP = Cycles("tRP", 39, "precharge to activate");
const NumberParam kRAS = Cycles("tRAS", 77, "activate to precharge");
const NumberParam kRFC = Cycles("tRFC", 708, "all-bank refresh duration");
const NumberParam kREFI = Cycles("tREFI", 9375, "refresh interval (0: no refresh)");
const NumberParam kBL = Cycles("tBL", 8, "data bus cycles of one burst");
const NumberParam kCCDS = Cycles("tCCD_S", 8, "column to column, other bank group");
const NumberParam kCCDL = Cycles("tCCD_L", 12, "column to column, same bank group");
const NumberParam kRRDS = Cycles("tRRD_S", 8, "activate to activate, other bank group");
const NumberParam kRRDL = Cycles("tRRD_L", 12, "activate to activate, same bank group");
const NumberParam kFAW = Cycles("tFAW", 32, "window in which a rank takes at most four activates");
const NumberParam kWR = Cycles("tWR", 72, "write recovery: end of write data to precharge");
const NumberParam kWTRS = Cycles("tWTR_S", 6, "end of write data to read, other bank group");
const NumberParam kWTRL = Cycles("tWTR_L", 24, "end of write data to read, same bank group");
const NumberParam kRTP = Cycles("tRTP", 18, "read to precharge");
const NumberParam kRTRS = Cycles("tRTRS", 2, "rank to rank switch on the data bus");
const NumberParam kChannels{"channels", "", 2, 1, 1024, "independent channels (power of two)", true};
const NumberParam kRanks{"ranks", "", 1, 1, 16, "ranks per channel (power of two)", true};
const NumberParam kBankGroups{"bankgroups", "", 8, 1, 64, "bank groups per rank (power of two)", true};
const NumberParam kBanks{"banks_per_group", "", 4, 1, 64, "banks per bank group (power of two)", true};
const NumberParam kRows{"rows", "", 65536, 1, 1 << 24, "rows per bank (power of two)", true};
const NumberParam kRowBytes{
    "row_bytes", "B", 4096, 32, 1 << 20, "page size of one bank across the channel's devices (power of two)",
    true};
const NumberParam kBusBits{"bus_bits", "bit", 32, 8, 1024, "data bus width of one channel", true};
const NumberParam kBurst{"burst_length", "beats", 16, 1, 64, "beats per burst", true};
const TextParam kMapping{
    "mapping", "ro-ra-ba-co-bg-ch", "each of ro ra ba bg co ch once, joined by '-', most significant first",
    "address fields above the burst offset: ro row, ra rank, ba bank, bg bank group, co column, ch channel"};
const ChoiceParam kPage{"page_policy",
                        {"open", "closed"},
                        "open",
                        "open: rows stay open for later hits; closed: auto-precharge unless a queued request "
                        "hits the same row"};
const NumberParam kReadQueue{"read_queue", "bursts", 32, 1, 4096, "read queue per channel", true};
const NumberParam kWriteQueue{"write_queue", "bursts", 32, 1, 4096, "write queue per channel", true};
const NumberParam kWriteHigh{"write_high", "bursts", 24, 1, 4096, "queued writes that start a write drain",
                             true};
const NumberParam kWriteLow{"write_low", "bursts", 8, 0, 4096, "queued writes that end a write drain", true};
const NumberParam kPort{"port_latency_ns",
                        "ns",
                        0,
                        0,
                        1e6,
                        "port and protocol latency each way (CXL.mem: about 35-45 ns each way)"};
const NumberParam kActPj{"act_pj", "pJ", 1500, 0, 1e9, "energy of one ACT and its PRE"};
const NumberParam kReadPj{"read_pj", "pJ", 2600, 0, 1e9, "energy of one read burst, I/O included"};
const NumberParam kWritePj{"write_pj", "pJ", 2800, 0, 1e9, "energy of one write burst, I/O included"};
const NumberParam kRefPj{"refresh_pj", "pJ", 250000, 0, 1e12, "energy of one all-bank refresh of a rank"};
const NumberParam kBackground{"background_mw", "mW", 400, 0, 1e6, "background power per rank"};

const char* FieldName(DramField f) {
  switch (f) {
    case DramField::kChannel: return "ch";
    case DramField::kRank: return "ra";
    case DramField::kBankGroup: return "bg";
    case DramField::kBank: return "ba";
    case DramField::kRow: return "ro";
    case DramField::kColumn: return "co";
  }
  return "?";
}

std::vector<DramField> ParseMapping(ConfigReader& s, const std::string& text) {
  const std::vector<DramField> all{DramField::kChannel, DramField::kRank, DramField::kBankGroup,
                                   DramField::kBank,    DramField::kRow,  DramField::kColumn};
  std::vector<DramField> out;
  std::stringstream in(text);
  std::string token;
  while (std::getline(in, token, '-')) {
    bool found = false;
    for (DramField f : all) {
      if (token != FieldName(f)) continue;
      for (DramField seen : out) {
        if (seen == f) s.Fail("mapping", "field '" + token + "' appears twice in '" + text + "'");
      }
      out.push_back(f);
      found = true;
    }
    if (!found) {
      s.Fail("mapping", "unknown field '" + token + "' in '" + text + "' (fields: ro ra ba bg co ch)");
    }
  }
  if (out.size() != all.size()) {
    s.Fail("mapping", "'" + text + "' must name each of ro ra ba bg co ch once, most significant first");
  }
  return out;
}

int Log2(int64_t v) {
  return std::countr_zero(static_cast<uint64_t>(v));
}

}  // namespace

uint64_t DramParams::capacity() const {
  return static_cast<uint64_t>(channels * ranks * bankgroups * banks_per_group * rows) *
         static_cast<uint64_t>(row_bytes);
}

DramParams ReadDram(ConfigReader& s) {
  DramParams p;
  p.standard = s.Choice(kStandard);
  p.fidelity = s.Choice(kFidelity) == "command" ? DramFidelity::kCommand : DramFidelity::kTransaction;
  p.tck_ns = s.Number(kTck);
  DramTiming& t = p.t;
  t.tCL = s.Integer(kCL);
  t.tCWL = s.Integer(kCWL);
  t.tRCD = s.Integer(kRCD);
  t.tRP = s.Integer(kRP);
  t.tRAS = s.Integer(kRAS);
  t.tRFC = s.Integer(kRFC);
  t.tREFI = s.Integer(kREFI);
  t.tBL = s.Integer(kBL);
  t.tCCD_S = s.Integer(kCCDS);
  t.tCCD_L = s.Integer(kCCDL);
  t.tRRD_S = s.Integer(kRRDS);
  t.tRRD_L = s.Integer(kRRDL);
  t.tFAW = s.Integer(kFAW);
  t.tWR = s.Integer(kWR);
  t.tWTR_S = s.Integer(kWTRS);
  t.tWTR_L = s.Integer(kWTRL);
  t.tRTP = s.Integer(kRTP);
  t.tRTRS = s.Integer(kRTRS);
  if (t.tBL < 1) s.Fail("tBL", "must be at least 1 cycle");
  if (t.tREFI > 0 && t.tRFC >= t.tREFI) s.Fail("tRFC", "must be shorter than tREFI");
  if (t.tCCD_S < t.tBL) s.Fail("tCCD_S", "must be at least tBL: bursts cannot overlap on the data bus");
  p.channels = s.Integer(kChannels);
  p.ranks = s.Integer(kRanks);
  p.bankgroups = s.Integer(kBankGroups);
  p.banks_per_group = s.Integer(kBanks);
  p.rows = s.Integer(kRows);
  p.row_bytes = s.Integer(kRowBytes);
  p.bus_bits = s.Integer(kBusBits);
  p.burst_length = s.Integer(kBurst);
  for (const auto* param : {&kChannels, &kRanks, &kBankGroups, &kBanks, &kRows, &kRowBytes}) {
    int64_t v = s.Integer(*param);
    if (!std::has_single_bit(static_cast<uint64_t>(v))) s.Fail(param->name, "must be a power of two");
  }
  if (p.bus_bits % 8 != 0) s.Fail("bus_bits", "must be a whole number of bytes");
  if (!std::has_single_bit(p.burst_bytes()))
    s.Fail("burst_length", "bus_bits/8 x burst_length must be a power of two");
  if (static_cast<uint64_t>(p.row_bytes) < p.burst_bytes())
    s.Fail("row_bytes", "must hold at least one burst");
  p.mapping = ParseMapping(s, s.Text(kMapping));
  p.page_policy = s.Choice(kPage) == "closed" ? PagePolicy::kClosed : PagePolicy::kOpen;
  p.read_queue = s.Integer(kReadQueue);
  p.write_queue = s.Integer(kWriteQueue);
  p.write_high = s.Integer(kWriteHigh);
  p.write_low = s.Integer(kWriteLow);
  if (p.write_high > p.write_queue) s.Fail("write_high", "must not exceed write_queue");
  if (p.write_low >= p.write_high) s.Fail("write_low", "must be below write_high");
  p.port_latency_ns = s.Number(kPort);
  p.act_pj = s.Number(kActPj);
  p.read_pj = s.Number(kReadPj);
  p.write_pj = s.Number(kWritePj);
  p.refresh_pj = s.Number(kRefPj);
  p.background_mw = s.Number(kBackground);
  return p;
}

int DramFieldBits(const DramParams& p, DramField f) {
  switch (f) {
    case DramField::kChannel: return Log2(p.channels);
    case DramField::kRank: return Log2(p.ranks);
    case DramField::kBankGroup: return Log2(p.bankgroups);
    case DramField::kBank: return Log2(p.banks_per_group);
    case DramField::kRow: return Log2(p.rows);
    case DramField::kColumn: return Log2(p.row_bytes / static_cast<int64_t>(p.burst_bytes()));
  }
  return 0;
}

DramAddressMap::DramAddressMap(const DramParams& p)
    : offset_bits_(Log2(static_cast<int64_t>(p.burst_bytes()))) {
  auto bits = [&](DramField f) { return DramFieldBits(p, f); };
  int shift = offset_bits_;
  for (auto it = p.mapping.rbegin(); it != p.mapping.rend(); ++it) {
    slices_.push_back({*it, shift, bits(*it)});
    shift += bits(*it);
  }
}

DramCoord DramAddressMap::Decode(uint64_t address) const {
  DramCoord c;
  for (const Slice& s : slices_) {
    int64_t v = static_cast<int64_t>((address >> s.shift) & ((1ull << s.bits) - 1));
    switch (s.field) {
      case DramField::kChannel: c.channel = static_cast<int>(v); break;
      case DramField::kRank: c.rank = static_cast<int>(v); break;
      case DramField::kBankGroup: c.bankgroup = static_cast<int>(v); break;
      case DramField::kBank: c.bank = static_cast<int>(v); break;
      case DramField::kRow: c.row = v; break;
      case DramField::kColumn: c.column = v; break;
    }
  }
  return c;
}

uint64_t DramAddressMap::Encode(const DramCoord& c) const {
  uint64_t a = 0;
  for (const Slice& s : slices_) {
    int64_t v = 0;
    switch (s.field) {
      case DramField::kChannel: v = c.channel; break;
      case DramField::kRank: v = c.rank; break;
      case DramField::kBankGroup: v = c.bankgroup; break;
      case DramField::kBank: v = c.bank; break;
      case DramField::kRow: v = c.row; break;
      case DramField::kColumn: v = c.column; break;
    }
    a |= static_cast<uint64_t>(v) << s.shift;
  }
  return a;
}

}  // namespace lightloop::hw_models
